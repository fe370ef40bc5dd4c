//! `tokenize()` and `distinct-values()`: the XPath 2.0 functions that return a sequence of
//! new strings, compiled at load into the compositions MI configurations write.
//!
//! sxd-xpath has no sequence of strings: its only collection is a node-set of the document
//! being evaluated, and a function cannot make new nodes in it. So a call that returns a
//! sequence is accepted only where its result is consumed at once, and the load rewrites
//! the pair into dedicated extension functions that pass the items between them in a
//! private, length-prefixed form no other function ever sees:
//!
//! | written | compiled |
//! |---|---|
//! | `string-join(tokenize(s, p), ',')` | `axon-seq-string-join(axon-tokenize(s, p), ',')` |
//! | `count(distinct-values(//x))` | `axon-seq-count(axon-distinct-values(//x))` |
//! | `distinct-values(tokenize(s, p))` (itself consumed) | `axon-seq-distinct-values(axon-tokenize(s, p))` |
//! | `tokenize(s, p)[2]` | `axon-seq-item(axon-tokenize(s, p), 2)` |
//! | `tokenize(s, p)[last()]` | `axon-seq-last(axon-tokenize(s, p))` |
//!
//! The consumers are `string-join` (first argument), `count`, `exists`, `empty` and
//! `distinct-values`; a position predicate must be a number or `last()`. Anywhere else
//! (an argument of `concat`, a bare property value, a predicate that filters, an iterate
//! expression) is a load error naming the function. Users cannot call the `axon-`
//! functions: the check of the source runs before the rewrite and does not know them.

use sxd_xpath::function::{self, Function};
use sxd_xpath::nodeset::Nodeset;
use sxd_xpath::{Value as XValue, context};

use super::error::CompileError;
use super::lexer::{Kind, Token};

/// The functions that return a sequence of new strings.
pub(crate) const PRODUCERS: &[&str] = &["tokenize", "distinct-values"];

/// The functions that may take such a sequence as their first argument.
const CONSUMERS: &[&str] = &["string-join", "count", "exists", "empty", "distinct-values"];

/// The prefix of the compiled consumers.
const SEQ: &str = "axon-seq-";

/// How the load rewrites one function call.
#[derive(Debug, PartialEq)]
pub(crate) struct Plan {
    /// Text written just before the call (`axon-seq-item(`), or empty.
    pub(crate) before: &'static str,
    /// The name the call is compiled to.
    pub(crate) name: String,
    /// What replaces the tokens of a position predicate after the call.
    pub(crate) predicate: Replacements,
}

/// The plan for the call whose name is `tokens[at]` (already checked: known, with its
/// arity), or `None` when it is compiled as written.
///
/// # Errors
/// A sequence-returning call outside the compositions above.
pub(crate) fn plan(tokens: &[Token], at: usize, local: &str) -> Result<Option<Plan>, CompileError> {
    let takes_sequence = CONSUMERS.contains(&local) && consumed(tokens, at + 2);
    let name = |plain: &str| {
        if takes_sequence {
            format!("{SEQ}{local}")
        } else {
            plain.to_owned()
        }
    };
    if !PRODUCERS.contains(&local) {
        return Ok(takes_sequence.then(|| Plan {
            before: "",
            name: name(""),
            predicate: Vec::new(),
        }));
    }
    let produced = name(&format!("axon-{local}"));
    if consumed(tokens, at) {
        return Ok(Some(Plan {
            before: "",
            name: produced,
            predicate: Vec::new(),
        }));
    }
    let outside = || CompileError::SequenceOutsideConsumer(local.to_owned());
    let close = closing(tokens, at).ok_or_else(outside)?;
    let (before, predicate) = position(tokens, close + 1).ok_or_else(outside)?;
    Ok(Some(Plan {
        before,
        name: produced,
        predicate,
    }))
}

/// Whether `tokens[at]` is a sequence-returning call that is the whole first argument of a
/// consumer.
fn consumed(tokens: &[Token], at: usize) -> bool {
    let is_producer = matches!(
        tokens.get(at).map(|t| &t.kind),
        Some(Kind::Function { local, .. }) if PRODUCERS.contains(&local.as_str())
    );
    let in_consumer = at >= 2
        && tokens[at - 1].kind == Kind::LParen
        && matches!(&tokens[at - 2].kind,
            Kind::Function { local, .. } if CONSUMERS.contains(&local.as_str()));
    let whole = closing(tokens, at).is_some_and(|close| {
        matches!(
            tokens.get(close + 1).map(|t| &t.kind),
            Some(Kind::Comma | Kind::RParen)
        )
    });
    is_producer && in_consumer && whole
}

/// The index of the `)` that closes the call whose name is `tokens[at]`.
fn closing(tokens: &[Token], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(at + 1) {
        match t.kind {
            Kind::LParen | Kind::LBracket => depth += 1,
            Kind::RParen | Kind::RBracket => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Token replacements: `(first, last, text)` puts `text` in place of `tokens[first..=last]`.
pub(crate) type Replacements = Vec<(usize, usize, &'static str)>;

/// A position predicate starting at `tokens[at]`: `[number]` or `[last()]`, with what
/// is written before the call and the replacements of the predicate's tokens.
fn position(tokens: &[Token], at: usize) -> Option<(&'static str, Replacements)> {
    let kinds: Vec<&Kind> = tokens.get(at..)?.iter().take(5).map(|t| &t.kind).collect();
    match kinds.as_slice() {
        [Kind::LBracket, Kind::Number, Kind::RBracket, ..] => Some((
            "axon-seq-item(",
            vec![(at, at, ", "), (at + 2, at + 2, ")")],
        )),
        [
            Kind::LBracket,
            Kind::Function { prefix, local },
            Kind::LParen,
            Kind::RParen,
            Kind::RBracket,
        ] if local == "last" && prefix.as_deref().is_none_or(|p| p == "fn") => {
            Some(("axon-seq-last(", vec![(at, at + 4, ")")]))
        }
        _ => None,
    }
}

// --- evaluation ---

type Eval<'c, 'd> = context::Evaluation<'c, 'd>;
type FnResult<'d> = Result<XValue<'d>, function::Error>;

/// The private form of a sequence: each item as its byte length, `:`, the item.
pub(crate) fn encode(items: &[String]) -> String {
    let mut out = String::with_capacity(items.iter().map(|s| s.len() + 4).sum());
    for item in items {
        out.push_str(&item.len().to_string());
        out.push(':');
        out.push_str(item);
    }
    out
}

/// The items of a sequence in its private form.
///
/// # Errors
/// Text that is not in that form (never, unless a bug let another value through).
pub(crate) fn decode(mut text: &str) -> Result<Vec<String>, function::Error> {
    let broken = || function::Error::Other("internal: not a sequence".to_owned());
    let mut items = Vec::new();
    while !text.is_empty() {
        let (len, rest) = text.split_once(':').ok_or_else(broken)?;
        let len: usize = len.parse().map_err(|_| broken())?;
        let item = rest.get(..len).ok_or_else(broken)?;
        items.push(item.to_owned());
        text = &rest[len..];
    }
    Ok(items)
}

/// The first argument, decoded.
fn sequence_arg(args: &mut std::vec::IntoIter<XValue<'_>>) -> Result<Vec<String>, function::Error> {
    let first = args.next().ok_or(function::Error::ArgumentMissing)?;
    decode(&first.into_string())
}

/// Items in first-seen order, each once.
pub(crate) fn distinct(items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|item| seen.insert(item.clone()))
        .collect()
}

/// A consumer of a sequence in its private form.
struct Consumer(for<'d> fn(Vec<String>, std::vec::IntoIter<XValue<'d>>) -> FnResult<'d>);

impl Function for Consumer {
    fn evaluate<'c, 'd>(&self, _: &Eval<'c, 'd>, args: Vec<XValue<'d>>) -> FnResult<'d> {
        let mut args = args.into_iter();
        let items = sequence_arg(&mut args)?;
        (self.0)(items, args)
    }
}

/// The empty sequence, as sxd-xpath has it.
fn nothing<'d>() -> XValue<'d> {
    XValue::Nodeset(Nodeset::new())
}

/// Registers the compiled consumers; the producers live beside their XPath 2.0 kin.
pub(crate) fn register(context: &mut sxd_xpath::Context<'_>) {
    let consumers: [(&str, Consumer); 7] = [
        (
            "string-join",
            Consumer(|items, mut rest| {
                let separator = rest.next().map(XValue::into_string).unwrap_or_default();
                Ok(XValue::String(items.join(&separator)))
            }),
        ),
        (
            "count",
            Consumer(|items, _| Ok(XValue::Number(items.len() as f64))),
        ),
        (
            "exists",
            Consumer(|items, _| Ok(XValue::Boolean(!items.is_empty()))),
        ),
        (
            "empty",
            Consumer(|items, _| Ok(XValue::Boolean(items.is_empty()))),
        ),
        (
            "distinct-values",
            Consumer(|items, _| Ok(XValue::String(encode(&distinct(items))))),
        ),
        (
            "item",
            Consumer(|items, mut rest| {
                let n = rest.next().map_or(f64::NAN, XValue::into_number);
                let found = (n.fract() == 0.0 && n >= 1.0)
                    .then(|| items.into_iter().nth(n as usize - 1))
                    .flatten();
                Ok(found.map_or_else(nothing, XValue::String))
            }),
        ),
        (
            "last",
            Consumer(|items, _| {
                Ok(items
                    .into_iter()
                    .last()
                    .map_or_else(nothing, XValue::String))
            }),
        ),
    ];
    for (name, consumer) in consumers {
        context.set_function(format!("{SEQ}{name}").as_str(), consumer);
    }
}
