//! `<log level category separator>`: write one line about the message (reference §5).

use super::expressions;
use super::{Env, Mediator, Step};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element, values};
use crate::expr::{ExprError, Expression};
use crate::message::{Body, Direction, MessageContext};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Simple,
    Headers,
    Full,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug)]
enum LogValue {
    Literal(String),
    Expr(Expression),
}

#[derive(Debug)]
struct Log {
    level: Level,
    category: Category,
    separator: String,
    properties: Vec<(String, LogValue)>,
}

/// Parses `<log>` with `<property name value|expression/>` children.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(
        el,
        &[
            "level",
            "category",
            "separator",
            "description",
            "logMessageID",
            "logFullPayload",
        ],
    );
    ctx.no_text(el);
    // MI 4.4's tooling writes both as `false` on every log, which asks for nothing.
    for attr in ["logMessageID", "logFullPayload"] {
        if let Some(a) = el.attr(attr).filter(|a| a.value.trim() != "false") {
            ctx.unsupported(&a.loc, format!("attribute `{attr}` of <log>"));
        }
    }
    let level = parse_level(el, ctx)?;
    let category = parse_category(el, ctx)?;
    let separator = el
        .attr_value("separator")
        .map(|s| s.replace("\\n", "\n").replace("\\t", "\t"))
        .unwrap_or_else(|| ", ".to_owned());
    let mut properties = Vec::new();
    let mut ok = true;
    for child in el.elements() {
        match child.local_name() {
            "property" if child.is_synapse() => match parse_property(child, ctx) {
                Some(property) => properties.push(property),
                None => ok = false,
            },
            "message" if child.is_synapse() => {
                ctx.unsupported(&child.loc, "<message> templates in <log>");
                ok = false;
            }
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
            }
        }
    }
    ok.then(|| {
        Box::new(Log {
            level,
            category,
            separator,
            properties,
        }) as Box<dyn Mediator>
    })
}

/// `level`: simple (the default), headers, full or custom.
fn parse_level(el: &Element, ctx: &mut Ctx<'_>) -> Option<Level> {
    values::keyword(
        el,
        "level",
        Level::Simple,
        &[
            ("simple", Level::Simple),
            ("headers", Level::Headers),
            ("full", Level::Full),
            ("custom", Level::Custom),
        ],
        ("log level", "simple, headers, full or custom"),
        ctx.diags,
    )
}

/// `category`: TRACE, DEBUG, INFO (the default), WARN, ERROR or FATAL.
fn parse_category(el: &Element, ctx: &mut Ctx<'_>) -> Option<Category> {
    values::keyword(
        el,
        "category",
        Category::Info,
        &[
            ("TRACE", Category::Trace),
            ("DEBUG", Category::Debug),
            ("INFO", Category::Info),
            ("WARN", Category::Warn),
            ("ERROR", Category::Error),
            ("FATAL", Category::Error),
        ],
        ("log category", "TRACE, DEBUG, INFO, WARN, ERROR or FATAL"),
        ctx.diags,
    )
}

/// A `<property name value|expression/>` to log.
fn parse_property(child: &Element, ctx: &mut Ctx<'_>) -> Option<(String, LogValue)> {
    ctx.check_attrs(child, &["name", "value", "expression"]);
    ctx.no_children(child);
    let name = ctx.required_attr(child, "name")?;
    let value = match (child.attr("value"), child.attr("expression")) {
        (Some(v), None) => LogValue::Literal(v.value.clone()),
        (None, Some(it)) => LogValue::Expr(expressions::expression(it, child, ctx.diags)?),
        _ => {
            ctx.error(
                &child.loc,
                "log <property> needs exactly one of `value` and `expression`",
            );
            return None;
        }
    };
    Some((name.value.clone(), value))
}

impl Category {
    /// Whether the logging filter lets a line of this category through.
    fn enabled(self) -> bool {
        use tracing::Level as L;
        match self {
            Category::Trace => tracing::enabled!(target: "axon::mediation::log", L::TRACE),
            Category::Debug => tracing::enabled!(target: "axon::mediation::log", L::DEBUG),
            Category::Info => tracing::enabled!(target: "axon::mediation::log", L::INFO),
            Category::Warn => tracing::enabled!(target: "axon::mediation::log", L::WARN),
            Category::Error => tracing::enabled!(target: "axon::mediation::log", L::ERROR),
        }
    }
}

impl Mediator for Log {
    fn body_use(&self) -> Option<&'static str> {
        if self.level == Level::Full {
            return Some("log level=\"full\"");
        }
        self.properties.iter().find_map(|(_, v)| match v {
            LogValue::Expr(expr) => super::reads_payload(expr, "log property expression"),
            LogValue::Literal(_) => None,
        })
    }

    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        // A line nobody will see costs nothing: no expression, no formatting, and above
        // all no read of a streamed body for level="full".
        if !self.category.enabled() {
            return Ok(Step::Continue);
        }
        if self.level == Level::Full && matches!(msg.body, Body::Stream { .. }) {
            return Ok(Step::NeedBody);
        }
        // Evaluate first: a payload read restarts this mediator, so nothing is logged twice.
        let Some(values) = self.evaluate(msg) else {
            return Ok(Step::NeedBody);
        };
        let line = self.line(msg, &values);
        self.emit(&msg.id.to_string(), &line);
        Ok(Step::Continue)
    }
}

impl Log {
    /// The values of the properties; `None` when one needs the payload read first.
    fn evaluate(&self, msg: &mut MessageContext) -> Option<Vec<String>> {
        let mut values: Vec<String> = Vec::with_capacity(self.properties.len());
        for (_, value) in &self.properties {
            values.push(match value {
                LogValue::Literal(v) => v.clone(),
                // A log line never fails the message: an error is logged in its place.
                LogValue::Expr(it) => match it.string(msg) {
                    Ok(v) => v.unwrap_or_default(),
                    Err(ExprError::NeedBody) => return None,
                    Err(error) => format!("<error: {error}>"),
                },
            });
        }
        Some(values)
    }

    /// The log line: what the level shows of `msg`, then the properties' `values`.
    fn line(&self, msg: &MessageContext, values: &[String]) -> String {
        let mut parts: Vec<String> = Vec::new();
        if matches!(self.level, Level::Simple | Level::Full) {
            if let Some(to) = &msg.to {
                parts.push(format!("To: {to}"));
            }
            if let Some(action) = crate::message::soap::action(&msg.headers) {
                parts.push(format!("SOAPAction: {action}"));
            }
            parts.push(format!("MessageID: {}", msg.id));
            let dir = match msg.direction {
                Direction::Request => "request",
                Direction::Response => "response",
            };
            parts.push(format!("Direction: {dir}"));
        }
        if self.level == Level::Headers {
            for (name, value) in &msg.headers {
                parts.push(format!("{name} : {}", value.to_str().unwrap_or("<binary>")));
            }
        }
        for ((name, _), value) in self.properties.iter().zip(values) {
            parts.push(format!("{name} = {value}"));
        }
        if self.level == Level::Full {
            let mut payload = String::from("Payload: ");
            if let Body::Full(bytes) = &msg.body {
                payload.push_str(&String::from_utf8_lossy(bytes));
            }
            parts.push(payload);
        }
        parts.join(&self.separator)
    }

    /// Writes `line` about message `id` at the category's level.
    fn emit(&self, id: &str, line: &str) {
        match self.category {
            Category::Trace => {
                tracing::trace!(target: "axon::mediation::log", message_id = %id, "{line}")
            }
            Category::Debug => {
                tracing::debug!(target: "axon::mediation::log", message_id = %id, "{line}")
            }
            Category::Info => {
                tracing::info!(target: "axon::mediation::log", message_id = %id, "{line}")
            }
            Category::Warn => {
                tracing::warn!(target: "axon::mediation::log", message_id = %id, "{line}")
            }
            Category::Error => {
                tracing::error!(target: "axon::mediation::log", message_id = %id, "{line}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderMap;
    use actix_web::http::{Method, Uri};

    fn streamed_request() -> MessageContext {
        let chunks = futures_util::stream::iter([Ok(bytes::Bytes::from_static(b"<a/>"))]);
        MessageContext::request(
            Method::POST,
            Uri::from_static("/"),
            "http",
            HeaderMap::new(),
            Body::Stream {
                stream: Box::pin(chunks),
                length: Some(4),
            },
        )
    }

    #[test]
    fn a_log_line_the_filter_drops_does_not_read_the_body() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config =
            crate::config::Config::load_with(dir.path(), &mut super::super::Parser::default())
                .expect("an empty folder loads");
        let env = Env { config: &config };
        let log = Log {
            level: Level::Full,
            category: Category::Debug,
            separator: ",".into(),
            properties: Vec::new(),
        };
        let at = |filter: &str| {
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(std::io::sink)
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                let mut msg = streamed_request();
                let step = log.mediate(&mut msg, &env).expect("log never fails");
                (
                    matches!(step, Step::NeedBody),
                    matches!(msg.body, Body::Stream { .. }),
                )
            })
        };
        assert_eq!(at("info"), (false, true), "DEBUG off: nothing read");
        assert_eq!(
            at("axon::mediation::log=debug"),
            (true, true),
            "DEBUG on: the body is asked for"
        );
    }
}
