//! MI 4.4 Synapse expressions, `${...}`: the payload (`payload.a.b[0]`, `$.a`), variables
//! (`vars.x.field`), properties (`props.synapse.x`, `properties.axis2.x`), transport
//! headers (`headers["Name"]`), parameters (`params.queryParams.x`, `params.pathParams.x`,
//! `params.functionParams.x`), `xpath('...')`, literals, operators and MI's functions.
//!
//! An expression is compiled once, at load: bad syntax or an unknown function is a load
//! error naming it. The parser is recursive descent with a fixed nesting limit
//! ([`MAX_DEPTH`]), so the tree (and its evaluation, which follows the tree) is never
//! deeper than that, whatever the configuration says.

use serde_json::{Number, Value as Json};

use super::{Evaluated, ExprError, Expression};
use crate::message::{MessageContext, Value};

/// How deeply parentheses, operators and calls may nest.
pub(crate) const MAX_DEPTH: usize = 32;

/// A compiled `${...}` expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SynExpr {
    root: Node,
    /// What the tree reads, found once at load: `prepare` runs for every evaluation.
    reads_json: bool,
    reads_xml: bool,
    /// The template parameters (`params.functionParams.x`) it reads.
    func_params: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Lit(Json),
    Path(Root, Vec<Step>),
    Unary(char, Box<Node>),
    Binary(Op, Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    Call(Func, Vec<Node>),
    XPath(Box<Expression>),
}

#[derive(Debug, Clone, PartialEq)]
enum Root {
    Payload,
    Vars,
    Headers,
    Synapse,
    Axis2,
    Query,
    PathParam,
    Function,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(Node),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// The functions MI 4.4 lists that Axon provides: name, fewest and most arguments.
const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("length", 1, 1),
    ("toUpper", 1, 1),
    ("toLower", 1, 1),
    ("subString", 2, 3),
    ("startsWith", 2, 2),
    ("endsWith", 2, 2),
    ("contains", 2, 2),
    ("trim", 1, 1),
    ("replace", 3, 3),
    ("split", 2, 2),
    ("indexOf", 2, 2),
    ("charAt", 2, 2),
    ("abs", 1, 1),
    ("ceil", 1, 1),
    ("floor", 1, 1),
    ("round", 1, 1),
    ("sqrt", 1, 1),
    ("pow", 2, 2),
    ("log", 1, 1),
    ("exists", 1, 1),
    ("not", 1, 1),
    ("isNumber", 1, 1),
    ("isString", 1, 1),
    ("isArray", 1, 1),
    ("isObject", 1, 1),
    ("integer", 1, 1),
    ("float", 1, 1),
    ("string", 1, 1),
    ("boolean", 1, 1),
    ("now", 0, 0),
];

/// A function of [`FUNCTIONS`], by its index.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Func(usize);

/// Why a `${...}` expression does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SynError {
    /// Bad syntax.
    #[error("Synapse expression: {0}")]
    Syntax(String),
    /// A function MI does not define, or Axon does not provide.
    #[error("Synapse expression: unknown function `{0}()`")]
    UnknownFunction(String),
    /// A function called with the wrong number of arguments.
    #[error("Synapse expression: `{0}()` takes {1} to {2} arguments")]
    Arity(String, usize, usize),
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("Synapse expression: nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// An `xpath('...')` that does not compile.
    #[error("Synapse expression: in xpath(): {0}")]
    XPath(String),
}

/// The text inside `${...}`, if `source` is one (MI: the whole value starts with `${` and
/// ends with `}`).
pub(crate) fn inner(source: &str) -> Option<&str> {
    source.strip_prefix("${").and_then(|s| s.strip_suffix('}'))
}

// === impl SynExpr ===

impl SynExpr {
    /// Compiles the text inside `${...}`.
    ///
    /// # Errors
    /// See [`SynError`].
    pub(crate) fn compile(text: &str, namespaces: &[(String, String)]) -> Result<Self, SynError> {
        let tokens = lex(text)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            depth: 0,
            namespaces,
        };
        let root = parser.expr()?;
        if let Some(t) = parser.peek() {
            return Err(SynError::Syntax(format!("unexpected `{}`", t.text())));
        }
        let mut func_params = Vec::new();
        root.collect_function_params(&mut func_params);
        let compiled = SynExpr {
            reads_json: root.any(&|n| matches!(n, Node::Path(Root::Payload, _))),
            reads_xml: root.any(&|n| matches!(n, Node::XPath(x) if x.needs_payload())),
            func_params,
            root,
        };
        if compiled.reads_json && compiled.reads_xml {
            // The payload is parsed in one form at a time.
            return Err(SynError::Syntax(
                "reads the payload both as JSON (payload, $) and by xpath(): use one".into(),
            ));
        }
        Ok(compiled)
    }

    /// Whether evaluating reads the JSON payload.
    pub(crate) fn reads_json(&self) -> bool {
        self.reads_json
    }

    /// Whether evaluating reads a template parameter (`params.functionParams.x`).
    pub(crate) fn reads_func(&self) -> bool {
        !self.func_params.is_empty()
    }

    /// Whether evaluating runs an XPath over the payload.
    pub(crate) fn reads_xml(&self) -> bool {
        self.reads_xml
    }

    /// Makes what the expression reads available (payload forms, template parameters).
    ///
    /// # Errors
    /// As [`Expression::prepare`].
    pub(crate) fn prepare(&self, msg: &mut MessageContext) -> Result<(), ExprError> {
        for name in &self.func_params {
            msg.prepare_func_param(name)?;
        }
        // XPaths first: reading them parses XML, and a JSON read after reparses as JSON;
        // an expression that reads both is evaluated on the form loaded last.
        if self.reads_xml {
            msg.load_xml()?;
        }
        if self.reads_json {
            msg.load_json()?;
        }
        Ok(())
    }

    /// Evaluates for `msg`, prepared by [`SynExpr::prepare`].
    ///
    /// # Errors
    /// A payload that is not available, an XPath that fails.
    pub(crate) fn evaluate(&self, msg: &MessageContext) -> Result<Evaluated, ExprError> {
        if let Node::XPath(x) = &self.root {
            return x.evaluate_prepared(msg);
        }
        Ok(match self.root.eval(msg)? {
            Json::Null => Evaluated::Null,
            Json::String(s) => Evaluated::Text(s),
            Json::Bool(b) => Evaluated::Bool(b),
            n @ Json::Number(_) => Evaluated::Text(n.to_string()),
            other => Evaluated::Json(other),
        })
    }

    /// The value as JSON (text, numbers and booleans as JSON scalars; nothing is null).
    ///
    /// # Errors
    /// As [`SynExpr::evaluate`].
    pub(crate) fn value(&self, msg: &MessageContext) -> Result<Json, ExprError> {
        self.root.eval(msg)
    }

    /// The value as a condition (MI: `true`, a non-empty string, a non-zero number).
    ///
    /// # Errors
    /// As [`SynExpr::evaluate`].
    pub(crate) fn boolean(&self, msg: &MessageContext) -> Result<bool, ExprError> {
        Ok(truthy(&self.root.eval(msg)?))
    }
}

// === impl Node ===

impl Node {
    fn children(&self) -> Vec<&Node> {
        match self {
            Node::Lit(_) | Node::XPath(_) => Vec::new(),
            Node::Path(_, steps) => steps
                .iter()
                .filter_map(|s| match s {
                    Step::Index(n) => Some(n),
                    Step::Field(_) => None,
                })
                .collect(),
            Node::Unary(_, a) => vec![a],
            Node::Binary(_, a, b) => vec![a, b],
            Node::Cond(a, b, c) => vec![a, b, c],
            Node::Call(_, args) => args.iter().collect(),
        }
    }

    fn any(&self, test: &dyn Fn(&Node) -> bool) -> bool {
        test(self) || self.children().into_iter().any(|c| c.any(test))
    }

    fn collect_function_params(&self, out: &mut Vec<String>) {
        if let Node::Path(Root::Function, steps) = self
            && let Some(Step::Field(name)) = steps.first()
        {
            out.push(name.clone());
        }
        for child in self.children() {
            child.collect_function_params(out);
        }
    }

    fn eval(&self, msg: &MessageContext) -> Result<Json, ExprError> {
        Ok(match self {
            Node::Lit(v) => v.clone(),
            Node::Path(root, steps) => read_path(root, steps, msg)?,
            Node::Unary('!', a) => Json::Bool(!truthy(&a.eval(msg)?)),
            Node::Unary(_, a) => num(-to_num(&a.eval(msg)?)?),
            Node::Binary(op, a, b) => binary(*op, a, b, msg)?,
            Node::Cond(c, a, b) => {
                if truthy(&c.eval(msg)?) {
                    a.eval(msg)?
                } else {
                    b.eval(msg)?
                }
            }
            Node::Call(f, args) => {
                let values = args
                    .iter()
                    .map(|a| a.eval(msg))
                    .collect::<Result<Vec<_>, _>>()?;
                call(*f, &values)?
            }
            Node::XPath(x) => match x.evaluate_prepared(msg)? {
                Evaluated::Null => Json::Null,
                Evaluated::Bool(b) => Json::Bool(b),
                Evaluated::Json(j) => j,
                Evaluated::Text(s) | Evaluated::Xml(s) => Json::String(s),
            },
        })
    }
}

fn read_path(root: &Root, steps: &[Step], msg: &MessageContext) -> Result<Json, ExprError> {
    // The payload is walked by reference: only what the path ends at is copied.
    let owned;
    let (mut current, rest) = match root {
        Root::Payload => (msg.json_value().ok_or(ExprError::NeedBody)?, steps),
        _ => {
            let Some((first, rest)) = steps.split_first() else {
                return Ok(Json::Null);
            };
            let name = match first {
                Step::Field(name) => name.clone(),
                Step::Index(n) => text(&n.eval(msg)?),
            };
            owned = scoped(root, &name, msg).map_or(Json::Null, to_json);
            (&owned, rest)
        }
    };
    for step in rest {
        current = match step {
            Step::Field(name) => current.get(name).unwrap_or(&Json::Null),
            Step::Index(n) => match n.eval(msg)? {
                Json::String(key) => current.get(&key).unwrap_or(&Json::Null),
                other => index(current, to_num(&other)?),
            },
        };
    }
    Ok(current.clone())
}

fn index(value: &Json, i: f64) -> &Json {
    let Json::Array(items) = value else {
        return &Json::Null;
    };
    let len = items.len() as f64;
    let at = if i < 0.0 { len + i } else { i };
    if at < 0.0 || at >= len {
        return &Json::Null;
    }
    &items[at as usize]
}

/// Reads `name` from the scope `root` names (everything but the payload).
fn scoped(root: &Root, name: &str, msg: &MessageContext) -> Option<Value> {
    match root {
        Root::Vars => msg.variable(name).cloned(),
        Root::Headers => msg
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(Value::from),
        Root::Synapse => msg.get(name).cloned(),
        Root::Axis2 => msg.get_axis2(name).cloned(),
        Root::Query => msg
            .get(&format!("query.param.{name}"))
            .cloned()
            .or_else(|| super::synapse::query_param(msg, name).map(Value::Str)),
        Root::PathParam => msg.get(&format!("uri.var.{name}")).cloned(),
        Root::Function => msg.func_param(name),
        Root::Payload => None,
    }
}

/// A property or variable value as JSON (XML as its text, JSON text parsed).
fn to_json(value: Value) -> Json {
    match value {
        Value::Str(s) | Value::Xml(s) => Json::String(s),
        Value::Int(i) => Json::from(i),
        Value::Float(f) => num(f),
        Value::Bool(b) => Json::Bool(b),
        Value::Json(j) => j,
    }
}

fn num(f: f64) -> Json {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Json::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Json::Null, Json::Number)
    }
}

fn to_num(v: &Json) -> Result<f64, ExprError> {
    match v {
        Json::Number(n) => Ok(n.as_f64().unwrap_or(0.0)),
        Json::String(s) => s
            .trim()
            .parse()
            .map_err(|_| ExprError::Failed(format!("`{s}` is not a number"))),
        Json::Bool(b) => Ok(f64::from(u8::from(*b))),
        other => Err(ExprError::Failed(format!("`{other}` is not a number"))),
    }
}

fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

fn truthy(v: &Json) -> bool {
    match v {
        Json::Null => false,
        Json::Bool(b) => *b,
        Json::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Json::String(s) => !s.is_empty() && s != "false",
        Json::Array(_) | Json::Object(_) => true,
    }
}

fn binary(op: Op, a: &Node, b: &Node, msg: &MessageContext) -> Result<Json, ExprError> {
    let left = a.eval(msg)?;
    match op {
        Op::Or if truthy(&left) => return Ok(Json::Bool(true)),
        Op::And if !truthy(&left) => return Ok(Json::Bool(false)),
        Op::Or | Op::And => return Ok(Json::Bool(truthy(&b.eval(msg)?))),
        _ => {}
    }
    let right = b.eval(msg)?;
    Ok(match op {
        Op::Eq => Json::Bool(equal(&left, &right)),
        Op::Ne => Json::Bool(!equal(&left, &right)),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => Json::Bool(compare(op, &left, &right)?),
        Op::Add if left.is_string() || right.is_string() => {
            Json::String(text(&left) + &text(&right))
        }
        _ => arithmetic(op, to_num(&left)?, to_num(&right)?)?,
    })
}

fn arithmetic(op: Op, x: f64, y: f64) -> Result<Json, ExprError> {
    if matches!(op, Op::Div | Op::Rem) && y == 0.0 {
        return Err(ExprError::Failed("division by zero".into()));
    }
    Ok(num(match op {
        Op::Add => x + y,
        Op::Sub => x - y,
        Op::Mul => x * y,
        Op::Div => x / y,
        _ => x % y,
    }))
}

fn equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(_), Json::String(_)) | (Json::String(_), Json::Number(_)) => {
            matches!((to_num(a), to_num(b)), (Ok(x), Ok(y)) if x == y)
        }
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(op: Op, a: &Json, b: &Json) -> Result<bool, ExprError> {
    let ordering = if let (Json::String(x), Json::String(y)) = (a, b) {
        x.cmp(y)
    } else {
        let (x, y) = (to_num(a)?, to_num(b)?);
        x.partial_cmp(&y)
            .ok_or_else(|| ExprError::Failed("comparison with NaN".into()))?
    };
    Ok(match op {
        Op::Lt => ordering.is_lt(),
        Op::Le => ordering.is_le(),
        Op::Gt => ordering.is_gt(),
        _ => ordering.is_ge(),
    })
}

fn call(f: Func, args: &[Json]) -> Result<Json, ExprError> {
    let name = FUNCTIONS[f.0].0;
    let s = |i: usize| text(&args[i]);
    let n = |i: usize| to_num(&args[i]);
    Ok(match name {
        "length" => match &args[0] {
            Json::Array(a) => Json::from(a.len()),
            Json::Object(o) => Json::from(o.len()),
            other => Json::from(text(other).chars().count()),
        },
        "toUpper" => Json::String(s(0).to_uppercase()),
        "toLower" => Json::String(s(0).to_lowercase()),
        "subString" => substring(&s(0), n(1)?, args.get(2).map(to_num).transpose()?),
        "startsWith" => Json::Bool(s(0).starts_with(&s(1))),
        "endsWith" => Json::Bool(s(0).ends_with(&s(1))),
        "contains" => Json::Bool(s(0).contains(&s(1))),
        "trim" => Json::String(s(0).trim().to_owned()),
        "replace" => replace(&s(0), &s(1), &s(2))?,
        "split" => Json::Array(s(0).split(&s(1)).map(Json::from).collect()),
        "indexOf" => Json::from(
            s(0).find(&s(1))
                .map_or(-1, |b| s(0)[..b].chars().count() as i64),
        ),
        "charAt" => char_at(&s(0), n(1)?),
        "exists" => Json::Bool(!args[0].is_null()),
        "not" => Json::Bool(!truthy(&args[0])),
        "isNumber" => Json::Bool(args[0].is_number()),
        "isString" => Json::Bool(args[0].is_string()),
        "isArray" => Json::Bool(args[0].is_array()),
        "isObject" => Json::Bool(args[0].is_object()),
        "integer" => Json::from(n(0)?.trunc() as i64),
        "float" => Number::from_f64(n(0)?).map_or(Json::Null, Json::Number),
        "string" => Json::String(s(0)),
        "boolean" => Json::Bool(truthy(&args[0])),
        "now" => Json::from(now_millis()),
        _ => math(name, n(0)?, args.get(1).map(to_num).transpose()?),
    })
}

/// The most text `replace` may make: its result grows with the product of its inputs.
const MAX_REPLACED: usize = 16 << 20;

/// `replace(text, from, to)`; an empty `from` changes nothing (MI would put `to` between
/// every character).
fn replace(text: &str, from: &str, to: &str) -> Result<Json, ExprError> {
    if from.is_empty() {
        return Ok(Json::String(text.to_owned()));
    }
    let grows = to.len().saturating_sub(from.len());
    let size = text.len() + text.matches(from).count().saturating_mul(grows);
    if size > MAX_REPLACED {
        return Err(ExprError::Failed(format!(
            "replace() would make {size} bytes (at most {MAX_REPLACED})"
        )));
    }
    Ok(Json::String(text.replace(from, to)))
}

/// The character at `at` (from 0); none before the start (a negative `as usize` would
/// read as 0) or past the end.
fn char_at(text: &str, at: f64) -> Json {
    if at < 0.0 {
        return Json::Null;
    }
    text.chars()
        .nth(at as usize)
        .map_or(Json::Null, |c| Json::String(c.to_string()))
}

fn math(name: &str, x: f64, y: Option<f64>) -> Json {
    num(match name {
        "abs" => x.abs(),
        "ceil" => x.ceil(),
        "floor" => x.floor(),
        "round" => x.round(),
        "sqrt" => x.sqrt(),
        "log" => x.ln(),
        _ => x.powf(y.unwrap_or(1.0)),
    })
}

fn substring(text: &str, start: f64, end: Option<f64>) -> Json {
    let chars: Vec<char> = text.chars().collect();
    let start = (start.max(0.0) as usize).min(chars.len());
    let end = end.map_or(chars.len(), |stop| {
        (stop.max(0.0) as usize).min(chars.len())
    });
    Json::String(chars[start..end.max(start)].iter().collect())
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

// === lexing ===

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(f64),
    Str(String),
    Ident(String),
    Punct(&'static str),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Num(n) => n.to_string(),
            Token::Str(s) => format!("'{s}'"),
            Token::Ident(s) => s.clone(),
            Token::Punct(p) => (*p).to_owned(),
        }
    }
}

const PUNCTS: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "(", ")", "[", "]", ".", ",", "+", "-", "*", "/", "%", "<",
    ">", "!", "?", ":", "$",
];

fn lex(text: &str) -> Result<Vec<Token>, SynError> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
        } else if c == '\'' || c == '"' {
            let end = rest[1..]
                .find(c)
                .ok_or_else(|| SynError::Syntax("unterminated string literal".into()))?;
            tokens.push(Token::Str(rest[1..=end].to_owned()));
            rest = &rest[end + 2..];
        } else if c.is_ascii_digit() {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
                .unwrap_or(rest.len());
            let n = rest[..end]
                .parse()
                .map_err(|_| SynError::Syntax(format!("bad number `{}`", &rest[..end])))?;
            tokens.push(Token::Num(n));
            rest = &rest[end..];
        } else if c.is_alphabetic() || c == '_' {
            let end = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            tokens.push(Token::Ident(rest[..end].to_owned()));
            rest = &rest[end..];
        } else {
            let p = PUNCTS
                .iter()
                .find(|p| rest.starts_with(**p))
                .ok_or_else(|| SynError::Syntax(format!("unexpected character `{c}`")))?;
            tokens.push(Token::Punct(p));
            rest = &rest[p.len()..];
        }
    }
    Ok(tokens)
}

// === parsing ===

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
    namespaces: &'a [(String, String)],
}

/// Binary operators by precedence, loosest first.
const LEVELS: &[&[(&str, Op)]] = &[
    &[("||", Op::Or), ("or", Op::Or)],
    &[("&&", Op::And), ("and", Op::And)],
    &[("==", Op::Eq), ("!=", Op::Ne)],
    &[("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)],
    &[("+", Op::Add), ("-", Op::Sub)],
    &[("*", Op::Mul), ("/", Op::Div), ("%", Op::Rem)],
];

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn is(&self, word: &str) -> bool {
        match self.peek() {
            Some(Token::Punct(p)) => *p == word,
            Some(Token::Ident(i)) => i == word,
            _ => false,
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        let found = self.is(word);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, word: &str) -> Result<(), SynError> {
        if self.eat(word) {
            return Ok(());
        }
        let found = self.peek().map_or("the end".to_owned(), Token::text);
        Err(SynError::Syntax(format!(
            "expected `{word}`, found `{found}`"
        )))
    }

    fn enter(&mut self) -> Result<(), SynError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SynError::TooDeep);
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Node, SynError> {
        self.enter()?;
        let cond = self.level(0)?;
        let node = if self.eat("?") {
            let yes = self.expr()?;
            self.expect(":")?;
            let no = self.expr()?;
            Node::Cond(Box::new(cond), Box::new(yes), Box::new(no))
        } else {
            cond
        };
        self.depth -= 1;
        Ok(node)
    }

    fn level(&mut self, level: usize) -> Result<Node, SynError> {
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut left = self.level(level + 1)?;
        let depth = self.depth;
        // Each operator in a chain nests the tree one level deeper (`a + b + c` is
        // `(a + b) + c`): it counts toward the limit as a parenthesis would.
        while let Some((_, op)) = ops.iter().find(|(w, _)| self.is(w)) {
            self.at += 1;
            self.enter()?;
            let right = self.level(level + 1)?;
            left = Node::Binary(*op, Box::new(left), Box::new(right));
        }
        self.depth = depth;
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, SynError> {
        for op in ['!', '-'] {
            if self.eat(&op.to_string()) {
                self.enter()?;
                let operand = self.unary()?;
                self.depth -= 1;
                return Ok(Node::Unary(op, Box::new(operand)));
            }
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, SynError> {
        let token = self
            .tokens
            .get(self.at)
            .cloned()
            .ok_or_else(|| SynError::Syntax("unexpected end".into()))?;
        self.at += 1;
        match token {
            Token::Num(n) => Ok(Node::Lit(num(n))),
            Token::Str(s) => Ok(Node::Lit(Json::String(s))),
            Token::Punct("(") => {
                let inner = self.expr()?;
                self.expect(")")?;
                Ok(inner)
            }
            Token::Punct("$") => self.path(Root::Payload),
            Token::Ident(word) => self.word(word),
            other => Err(SynError::Syntax(format!("unexpected `{}`", other.text()))),
        }
    }

    fn word(&mut self, word: String) -> Result<Node, SynError> {
        match word.as_str() {
            "true" => return Ok(Node::Lit(Json::Bool(true))),
            "false" => return Ok(Node::Lit(Json::Bool(false))),
            "null" => return Ok(Node::Lit(Json::Null)),
            _ => {}
        }
        if self.is("(") {
            return self.call(word);
        }
        let root = match word.as_str() {
            "payload" => Root::Payload,
            "vars" => Root::Vars,
            "headers" => Root::Headers,
            "props" | "properties" => {
                self.scope(&[("synapse", Root::Synapse), ("axis2", Root::Axis2)])?
            }
            "params" => self.scope(&[
                ("queryParams", Root::Query),
                ("pathParams", Root::PathParam),
                ("functionParams", Root::Function),
            ])?,
            other => {
                return Err(SynError::Syntax(format!(
                    "unknown name `{other}` (expected payload, vars, headers, props, properties or params)"
                )));
            }
        };
        self.path(root)
    }

    fn scope(&mut self, scopes: &[(&str, Root)]) -> Result<Root, SynError> {
        self.expect(".")?;
        let found = match self.tokens.get(self.at) {
            Some(Token::Ident(name)) => scopes.iter().find(|(n, _)| n == name),
            _ => None,
        };
        let names: Vec<&str> = scopes.iter().map(|(n, _)| *n).collect();
        let (_, root) = found
            .ok_or_else(|| SynError::Syntax(format!("expected one of {}", names.join(", "))))?;
        self.at += 1;
        Ok(root.clone())
    }

    fn path(&mut self, root: Root) -> Result<Node, SynError> {
        let mut steps = Vec::new();
        loop {
            if self.eat(".") {
                match self.tokens.get(self.at).cloned() {
                    Some(Token::Ident(name)) => steps.push(Step::Field(name)),
                    _ => return Err(SynError::Syntax("expected a name after `.`".into())),
                }
                self.at += 1;
            } else if self.eat("[") {
                let index = self.expr()?;
                self.expect("]")?;
                steps.push(Step::Index(index));
            } else {
                return Ok(Node::Path(root, steps));
            }
        }
    }

    fn call(&mut self, name: String) -> Result<Node, SynError> {
        self.expect("(")?;
        let mut args = Vec::new();
        if !self.eat(")") {
            loop {
                args.push(self.expr()?);
                if self.eat(")") {
                    break;
                }
                self.expect(",")?;
            }
        }
        if name == "xpath" {
            return xpath(&args, self.namespaces);
        }
        let index = FUNCTIONS
            .iter()
            .position(|(n, _, _)| *n == name)
            .ok_or_else(|| SynError::UnknownFunction(name.clone()))?;
        let (_, min, max) = FUNCTIONS[index];
        if args.len() < min || args.len() > max {
            return Err(SynError::Arity(name, min, max));
        }
        Ok(Node::Call(Func(index), args))
    }
}

fn xpath(args: &[Node], namespaces: &[(String, String)]) -> Result<Node, SynError> {
    let [Node::Lit(Json::String(text))] = args else {
        return Err(SynError::XPath("takes one string literal".into()));
    };
    let compiled = Expression::compile(text, namespaces)
        .map_err(|error| SynError::XPath(error.to_string()))?;
    Ok(Node::XPath(Box::new(compiled)))
}

#[cfg(test)]
#[path = "synexpr_tests.rs"]
mod tests;
