use super::*;
use crate::message::MessageContext;
use crate::message::Value;

fn compile(text: &str) -> Result<SynExpr, SynError> {
    SynExpr::compile(text, &[])
}

fn eval(text: &str, msg: &mut MessageContext) -> Evaluated {
    let e = compile(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    e.prepare(msg).unwrap();
    e.evaluate(msg).unwrap()
}

fn json_msg(body: &str) -> MessageContext {
    crate::expr::tests::msg(body, "application/json")
}

fn text(s: &str) -> Evaluated {
    Evaluated::Text(s.into())
}

#[test]
fn payload_paths_vars_and_properties() {
    let mut msg = json_msg(r#"{"a":{"b":[{"c":"x"},{"c":"y"}]},"n":3}"#);
    msg.set_variable("v", Value::Json(serde_json::json!({"f": 7})));
    msg.set("p", "prop");
    msg.set_axis2("HTTP_SC", Value::Int(201));
    msg.set("query.param.q", "qq");
    msg.set("uri.var.id", "42");
    assert_eq!(eval("payload.a.b[1].c", &mut msg), text("y"));
    assert_eq!(eval("$.a.b[-1].c", &mut msg), text("y"));
    assert_eq!(eval("payload.a.b[0]['c']", &mut msg), text("x"));
    assert_eq!(eval("vars.v.f + 1", &mut msg), text("8"));
    assert_eq!(eval("vars.v.f-1", &mut msg), text("6"));
    assert_eq!(eval("props.synapse.p", &mut msg), text("prop"));
    assert_eq!(eval("properties.axis2.HTTP_SC", &mut msg), text("201"));
    assert_eq!(eval("params.queryParams.q", &mut msg), text("qq"));
    assert_eq!(
        eval("params.pathParams.id == 42", &mut msg),
        Evaluated::Bool(true)
    );
    assert_eq!(eval("vars.missing", &mut msg), Evaluated::Null);
    assert_eq!(
        eval("payload.n * 2 > 5 ? 'big' : 'small'", &mut msg),
        text("big")
    );
}

#[test]
fn functions_and_operators() {
    let mut msg = json_msg(r#"{"s":"  Hello World "}"#);
    assert_eq!(
        eval("toUpper(trim(payload.s))", &mut msg),
        text("HELLO WORLD")
    );
    assert_eq!(eval("length(trim(payload.s))", &mut msg), text("11"));
    assert_eq!(eval("subString('abcdef', 1, 3)", &mut msg), text("bc"));
    assert_eq!(
        eval(
            "contains(payload.s, 'World') && !startsWith('a', 'b')",
            &mut msg
        ),
        Evaluated::Bool(true)
    );
    assert_eq!(eval("replace('a-b-c', '-', '+')", &mut msg), text("a+b+c"));
    assert_eq!(eval("replace('ab', '', 'x')", &mut msg), text("ab"));
    assert_eq!(
        eval("split('a,b', ',')", &mut msg),
        Evaluated::Json(serde_json::json!(["a", "b"]))
    );
    assert_eq!(
        eval("round(2.5) + floor(1.9) + ceil(0.1) + abs(-1)", &mut msg),
        text("6")
    );
    assert_eq!(eval("sqrt(16)", &mut msg), text("4"));
    assert_eq!(eval("charAt('abc', 1)", &mut msg), text("b"));
    assert_eq!(eval("charAt('abc', -1)", &mut msg), Evaluated::Null);
    assert_eq!(eval("charAt('abc', 3)", &mut msg), Evaluated::Null);
    assert_eq!(eval("integer('12') + 1", &mut msg), text("13"));
    assert_eq!(eval("'a' + 1", &mut msg), text("a1"));
    assert_eq!(eval("10 % 4 - 2 / 4", &mut msg), text("1.5"));
    assert_eq!(
        eval("exists(payload.none) or isString(payload.s)", &mut msg),
        Evaluated::Bool(true)
    );
    assert_eq!(
        eval("boolean('') == false", &mut msg),
        Evaluated::Bool(true)
    );
}

#[test]
fn headers_and_xpath() {
    let mut msg = crate::expr::tests::msg("<r><a>1</a><a>2</a></r>", "application/xml");
    assert_eq!(
        eval("headers[\"Content-Type\"]", &mut msg),
        text("application/xml")
    );
    assert_eq!(eval("xpath('count(//a)')", &mut msg), text("2"));
    assert_eq!(
        eval("xpath('//a[2]') == 2", &mut msg),
        Evaluated::Bool(true)
    );
}

#[test]
fn load_errors_name_what_is_wrong() {
    let err = |t: &str| compile(t).unwrap_err().to_string();
    assert!(
        err("frobnicate(1)").contains("unknown function `frobnicate()`"),
        "{}",
        err("frobnicate(1)")
    );
    assert!(err("length(1, 2)").contains("`length()` takes 1 to 1"));
    assert!(err("payload.a +").contains("unexpected end"));
    assert!(err("'open").contains("unterminated"));
    assert!(err("props.default.x").contains("expected one of synapse, axis2"));
    assert!(err("nothing.x").contains("unknown name `nothing`"));
    assert!(err("xpath('//a[')").contains("in xpath()"));
    assert!(err("payload.a == xpath('//a')").contains("both as JSON"));
    assert!(err("1 2").contains("unexpected `2`"));
}

#[test]
fn deeply_nested_input_is_a_clear_error_not_a_stack_overflow() {
    for deep in [
        format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{}1", "!".repeat(100_000)),
        format!("{}1", "-".repeat(100_000)),
        format!("1{}", "+1".repeat(100_000)),
        format!("{}1{}", "length(".repeat(100_000), ")".repeat(100_000)),
        format!("{}0{}", "payload[".repeat(100_000), "]".repeat(100_000)),
        format!("{}1{}", "1 ? ".repeat(100_000), " : 2".repeat(100_000)),
    ] {
        assert_eq!(compile(&deep).unwrap_err(), SynError::TooDeep);
    }
    // Within the limit it compiles.
    assert!(compile(&format!("{}1{}", "(".repeat(20), ")".repeat(20))).is_ok());
    assert!(compile(&format!("1{}", "+1".repeat(20))).is_ok());
}

#[test]
fn evaluation_errors_are_errors_not_panics() {
    let mut msg = json_msg(r#"{"s":"x"}"#);
    msg.set_variable("big", Value::Str("a".repeat(1 << 20)));
    for text in [
        "1 / 0",
        "payload.s * 2",
        "5 % 0",
        "payload.s < 1",
        "replace(vars.big, 'a', vars.big)",
    ] {
        let e = compile(text).unwrap();
        e.prepare(&mut msg).unwrap();
        assert!(
            matches!(e.evaluate(&msg), Err(ExprError::Failed(_))),
            "{text}"
        );
    }
}
