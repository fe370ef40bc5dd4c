//! `<template>` artifacts holding a sequence (sequence templates), invoked by
//! `<call-template target>` with `<with-param>` values (reference §1.14).
//!
//! Endpoint templates (`<template>` holding an `<endpoint>`) are in `endpoint_template`.

use super::{Ctx, Element, Loc, SeqId, sequence};

/// A sequence template.
#[derive(Debug)]
pub(crate) struct TemplateConfig {
    /// The template's name.
    pub(crate) name: String,
    /// Declared parameters, in order.
    pub(crate) params: Vec<TemplateParam>,
    /// The body, run with the parameters in the `func` scope.
    pub(crate) sequence: SeqId,
    /// Where it is defined.
    #[allow(
        dead_code,
        reason = "configuration as loaded and checked; no runtime step reads it yet"
    )]
    pub(crate) loc: Loc,
}

/// A `<parameter>` of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateParam {
    /// Its name (`$func:name`).
    pub(crate) name: String,
    /// `defaultValue`, used when the call gives none.
    pub(crate) default: Option<String>,
    /// `isMandatory="true"`: every call must give it (checked at load).
    pub(crate) mandatory: bool,
}

/// Parses a `<template name>` artifact.
pub(crate) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<TemplateConfig> {
    ctx.check_attrs(el, &["name", "onError"]);
    ctx.no_text(el);
    if let Some(a) = el.attr("onError") {
        ctx.unsupported(
            &a.loc,
            "`onError` on a <template> (put it on its <sequence>)",
        );
    }
    let name = ctx.required_attr(el, "name")?.value.trim().to_owned();
    let mut params: Vec<TemplateParam> = Vec::new();
    let mut body = None;
    let mut ok = true;
    for child in el.elements() {
        match child.local_name() {
            "parameter" if child.is_synapse() => match parse_param(child, &params, ctx) {
                Some(p) => params.push(p),
                None => ok = false,
            },
            "sequence" if child.is_synapse() => {
                if body.is_some() {
                    ctx.error(&child.loc, "a <template> holds one <sequence>");
                    ok = false;
                    continue;
                }
                body = parse_body(child, &name, ctx);
                if body.is_none() {
                    ok = false;
                }
            }
            "description" if child.is_synapse() => {}
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
            }
        }
    }
    if body.is_none() && ok {
        ctx.error(&el.loc, "<template> needs a <sequence>");
        ok = false;
    }
    if !ok {
        return None;
    }
    Some(TemplateConfig {
        name,
        params,
        sequence: body?,
        loc: el.loc.clone(),
    })
}

/// One `<parameter>` of a template; `None` after reporting a problem.
fn parse_param(
    child: &Element,
    params: &[TemplateParam],
    ctx: &mut Ctx<'_>,
) -> Option<TemplateParam> {
    ctx.check_attrs(
        child,
        &["name", "defaultValue", "isMandatory", "description"],
    );
    ctx.no_children(child);
    let pname = ctx.required_attr(child, "name")?.value.trim().to_owned();
    if params.iter().any(|p| p.name == pname) {
        ctx.error(&child.loc, format!("parameter `{pname}` is declared twice"));
        return None;
    }
    let mandatory = match child.attr("isMandatory") {
        Some(a) => super::values::boolean(&a.value, &a.loc, "isMandatory", ctx.diags)?,
        None => false,
    };
    Some(TemplateParam {
        name: pname,
        default: child.attr_value("defaultValue").map(str::to_owned),
        mandatory,
    })
}

/// The template's `<sequence>`, parsed with the template's name as its artifact.
fn parse_body(child: &Element, name: &str, ctx: &mut Ctx<'_>) -> Option<SeqId> {
    ctx.check_attrs(child, &["onError", "name"]);
    let label = format!("template {name}");
    let saved = std::mem::replace(&mut ctx.artifact, label.clone());
    let body = sequence::parse_inline_body(child, label, ctx);
    ctx.artifact = saved;
    body
}
