//! `<scatter-gather>` (MI 4.4, reference §7.7): runs a copy of the message through each
//! `<sequence>` (concurrently unless `parallel-execution="false"`), takes the aggregation
//! expression of what each ends with, and puts the combined result in the body; the flow
//! then goes on after the mediator. Results are in the sequences' order (MI: arrival
//! order), and a sequence that fails is left out.
//!
//! The aggregation expression is an MI 4.4 Synapse expression (`expr/synexpr.rs`):
//! `${payload}` takes each whole result, `${xpath('...')}` the nodes it selects, any other
//! `${...}` its value.

use bytes::Bytes;

use super::aggregate::{self, Part};
use super::fan_out::{self, FanTarget, Fork, Reassemble};
use super::filter::Branch;
use super::{Env, Mediator, Reference, Step, parse_list};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element, values};
use crate::expr::Expression;
use crate::message::{Body, MessageContext};

#[derive(Debug)]
struct ScatterGather {
    parallel: bool,
    json: bool,
    enclosing: Option<String>,
    /// `None`: the whole payload.
    expression: Option<Expression>,
    targets: Vec<FanTarget>,
}

/// Parses `<scatter-gather>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(
        el,
        &[
            "parallel-execution",
            "result-content-type",
            "result-enclosing-element",
            "target",
            "target-variable",
        ],
    );
    ctx.no_text(el);
    let before = ctx.diags.error_count();
    let parallel = match el.attr("parallel-execution") {
        Some(a) => values::boolean(&a.value, &a.loc, "parallel-execution", ctx.diags),
        None => Some(true),
    };
    let json = ctx.required_attr(el, "result-content-type").and_then(|a| {
        match a.value.trim().to_ascii_uppercase().as_str() {
            "JSON" => Some(true),
            "XML" => Some(false),
            other => {
                ctx.error(
                    &a.loc,
                    format!("`result-content-type` is JSON or XML, not {other:?}"),
                );
                None
            }
        }
    });
    if let Some(a) = ctx.required_attr(el, "target")
        && a.value.trim() != "body"
    {
        ctx.unsupported(
            &a.loc,
            format!("target={:?} on <scatter-gather> (only `body`)", a.value),
        );
    }
    let enclosing = el
        .attr("result-enclosing-element")
        .map(|a| a.value.trim().to_owned());
    if json == Some(false) && enclosing.is_none() {
        ctx.error(
            &el.loc,
            "an XML <scatter-gather> needs `result-enclosing-element`",
        );
    }
    let mut expression = None;
    let mut targets = Vec::new();
    for child in el.elements() {
        match child.local_name() {
            "aggregation" if child.is_synapse() => expression = Some(aggregation(child, ctx)),
            "sequence" if child.is_synapse() => {
                ctx.check_attrs(child, &[]);
                let list = parse_list(child, ctx);
                targets.push(FanTarget {
                    soap_action: None,
                    to: None,
                    sequence: Some(Branch::Inline(list)),
                    endpoint: None,
                });
            }
            _ => ctx.unknown_child(el, child),
        }
    }
    if expression.is_none() {
        ctx.error(
            &el.loc,
            "<scatter-gather> needs an <aggregation expression>",
        );
    }
    if targets.is_empty() {
        ctx.error(&el.loc, "<scatter-gather> needs at least one <sequence>");
    }
    if ctx.diags.error_count() != before {
        return None;
    }
    Some(Box::new(ScatterGather {
        parallel: parallel?,
        json: json?,
        enclosing,
        expression: expression.flatten(),
        targets,
    }))
}

/// `<aggregation expression>`: the payload forms of a Synapse expression.
fn aggregation(el: &Element, ctx: &mut Ctx<'_>) -> Option<Expression> {
    ctx.check_attrs(
        el,
        &[
            "expression",
            "condition",
            "timeout",
            "min-messages",
            "max-messages",
        ],
    );
    for name in ["condition", "timeout", "min-messages", "max-messages"] {
        if let Some(a) = el.attr(name) {
            ctx.unsupported(&a.loc, format!("`{name}` of <aggregation>"));
        }
    }
    let a = ctx.required_attr(el, "expression")?;
    let text = a.value.trim();
    let inner = text
        .strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
        .map(str::trim);
    let compiled = match inner {
        Some("payload") => return None,
        // A lone XPath selects nodes (kept as XML), as `aggregate` takes them.
        Some(x) if x.starts_with("xpath('") && x.ends_with("')") => {
            Expression::compile(&x[7..x.len() - 2], &el.namespaces)
        }
        Some(_) => Expression::compile(text, &el.namespaces),
        None => {
            ctx.error(
                &a.loc,
                format!("the aggregation expression {text:?} is a Synapse expression, `${{...}}`"),
            );
            return None;
        }
    };
    match compiled {
        Ok(expr) => Some(expr),
        Err(message) => {
            ctx.error(&a.loc, format!("`expression`: {message}"));
            None
        }
    }
}

impl ScatterGather {
    /// What one result contributes (nothing when the expression fails or matches
    /// nothing: that result is left out).
    fn take(&self, parent: &MessageContext, bytes: Bytes) -> Option<Part> {
        let mut m = parent.branch(Body::Full(bytes));
        match &self.expression {
            None => aggregate::default_part(&mut m).ok(),
            Some(expr) => aggregate::take(expr, &mut m).ok().flatten(),
        }
    }
}

impl Reassemble for ScatterGather {
    fn reassemble(
        &self,
        parent: &mut MessageContext,
        items: Vec<Option<Bytes>>,
    ) -> Result<(), MediationError> {
        let results: Vec<Part> = items
            .into_iter()
            .flatten()
            .filter_map(|bytes| self.take(parent, bytes))
            .collect();
        if self.json {
            let values = results.into_iter().map(|r| match r {
                Part::Json(v) => v,
                Part::Xml(x) => serde_json::Value::String(x),
            });
            parent.set_json_payload(serde_json::Value::Array(values.collect()));
            return Ok(());
        }
        let name = self.enclosing.as_deref().unwrap_or("result");
        let mut xml = format!("<{name}>");
        for r in results {
            match r {
                Part::Xml(x) => xml.push_str(&x),
                Part::Json(v) => xml.push_str(&crate::base::xml::escape_text(&v.to_string())),
            }
        }
        xml.push_str(&format!("</{name}>"));
        parent.set_header(
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderValue::from_static("application/xml"),
        );
        parent.body = Body::Full(Bytes::from(xml));
        Ok(())
    }
}

impl Mediator for ScatterGather {
    fn mediate<'c>(
        &'c self,
        _msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        let branches = fan_out::copies(&self.targets);
        Ok(Step::Fork(Fork {
            id: "scatter-gather",
            sequential: !self.parallel,
            continue_parent: true,
            branches,
            in_place: Some(self),
        }))
    }

    fn body_use(&self) -> Option<&'static str> {
        Some("scatter-gather")
    }

    fn reads_payload(&self) -> bool {
        false
    }

    fn branch(&self, n: usize) -> Option<&[Box<dyn Mediator>]> {
        self.targets.get(n).map(FanTarget::list)
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        fan_out::visit_targets(&self.targets, visit);
    }
}
