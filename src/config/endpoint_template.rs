//! Endpoint templates: `<template name><parameter name/>*<endpoint>…</endpoint></template>`,
//! used by `<endpoint [name] template="T" [uri]><parameter name value/>*</endpoint>`.
//!
//! As in Synapse, a use is expanded once, at load: the template's `<endpoint>` is copied,
//! and every attribute value and element text that is exactly `$p` (for a parameter `p` the
//! template declares and the use gives) becomes the given value. `name` and `uri` are
//! parameters of every template, given by the use's own attributes. The copy is then
//! parsed as an ordinary endpoint, so every check applies to the expanded values.

use std::collections::HashMap;

use super::{Ctx, Element};
use crate::base::xml::Node;

/// An endpoint template: its declared parameters and the `<endpoint>` to copy.
#[derive(Debug)]
pub(crate) struct EndpointTemplate {
    /// Declared parameters (`name` and `uri` first) with their `defaultValue`.
    params: Vec<(String, Option<String>)>,
    endpoint: Element,
}

/// True for a `<template>` that holds an `<endpoint>` (a sequence template holds a
/// `<sequence>`).
pub(crate) fn is_endpoint_template(el: &Element) -> bool {
    el.elements()
        .any(|c| c.is_synapse() && c.local_name() == "endpoint")
}

/// Parses an endpoint `<template>`; `None` after reporting a problem.
pub(crate) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<EndpointTemplate> {
    ctx.check_attrs(el, &["name"]);
    ctx.no_text(el);
    let mut params: Vec<(String, Option<String>)> =
        vec![("name".to_owned(), None), ("uri".to_owned(), None)];
    let mut endpoint = None;
    let mut ok = true;
    for child in ctx.synapse_children(el, &mut ok) {
        match child.local_name() {
            "parameter" => {
                ctx.check_attrs(child, &["name", "defaultValue", "isMandatory"]);
                ctx.no_children(child);
                let default = child.attr_value("defaultValue").map(str::to_owned);
                match ctx.required_attr(child, "name") {
                    Some(a) => match params.iter_mut().find(|(n, _)| n == a.value.trim()) {
                        // `name`/`uri` declared, as the tooling writes them
                        Some(known) => known.1 = default.or(known.1.take()),
                        None => params.push((a.value.trim().to_owned(), default)),
                    },
                    None => ok = false,
                }
            }
            "endpoint" if endpoint.is_some() => {
                ctx.error(&child.loc, "a <template> holds one <endpoint>");
                ok = false;
            }
            "endpoint" => endpoint = Some(child.clone()),
            "description" => {}
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
            }
        }
    }
    let endpoint = endpoint.filter(|_| ok)?;
    Some(EndpointTemplate { params, endpoint })
}

/// Expands `<endpoint template="T">` (`use_el`): the template's `<endpoint>` with the
/// values the use gives, without its own `name` (the use names the endpoint). `None` after
/// reporting a problem.
pub(crate) fn expand(use_el: &Element, ctx: &mut Ctx<'_>) -> Option<Element> {
    ctx.check_attrs(use_el, &["name", "template", "uri", "onError"]);
    ctx.no_text(use_el);
    let target = ctx.required_attr(use_el, "template")?;
    let template = ctx.endpoint_template(target.value.trim(), &target.loc)?;
    let mut values: HashMap<String, String> = template
        .params
        .iter()
        .filter_map(|(n, d)| Some((n.clone(), d.clone()?)))
        .collect();
    for a in ["name", "uri"] {
        if let Some(v) = use_el.attr_value(a) {
            values.insert(a.to_owned(), v.trim().to_owned());
        }
    }
    let mut ok = true;
    for child in ctx.synapse_children(use_el, &mut ok) {
        if child.local_name() == "description" {
            continue;
        }
        if child.local_name() != "parameter" {
            ctx.unknown_child(use_el, child);
            ok = false;
            continue;
        }
        ctx.check_attrs(child, &["name", "value"]);
        ctx.no_children(child);
        let (Some(name), Some(value)) = (ctx.required_attr(child, "name"), child.attr("value"))
        else {
            ctx.error(
                &child.loc,
                "a template endpoint <parameter> needs `name` and `value`",
            );
            ok = false;
            continue;
        };
        let name = name.value.trim().to_owned();
        if !template.params.iter().any(|(n, _)| *n == name) {
            let known = template.params.iter().map(|(n, _)| n.as_str());
            ctx.error(
                &child.loc,
                format!(
                    "template `{}` has no parameter `{name}`{}",
                    target.value.trim(),
                    super::did_you_mean(&name, known)
                ),
            );
            ok = false;
        }
        values.insert(name, value.value.clone());
    }
    let mut endpoint = template.endpoint.clone();
    endpoint.attrs.retain(|a| a.name != "name");
    let mut missing = Vec::new();
    substitute(&mut endpoint, &template.params, &values, &mut missing);
    for p in missing {
        ctx.error(
            &use_el.loc,
            format!(
                "template `{}` needs a value for parameter `{p}`",
                target.value.trim()
            ),
        );
        ok = false;
    }
    ok.then_some(endpoint)
}

/// Replaces, in `el` and below, each attribute value and text that is exactly `$p` for a
/// declared parameter `p` with its value; a declared `p` without one goes to `missing`.
fn substitute(
    el: &mut Element,
    params: &[(String, Option<String>)],
    values: &HashMap<String, String>,
    missing: &mut Vec<String>,
) {
    let mut lookup = |text: &mut String| {
        let Some(p) = text.trim().strip_prefix('$') else {
            return;
        };
        if !params.iter().any(|(d, _)| d == p) {
            return;
        }
        match values.get(p) {
            Some(v) => *text = v.clone(),
            None if !missing.iter().any(|m| m == p) => missing.push(p.to_owned()),
            None => {}
        }
    };
    for a in &mut el.attrs {
        lookup(&mut a.value);
    }
    let mut children: Vec<&mut Element> = Vec::new();
    for node in &mut el.children {
        match node {
            Node::Element(child) => children.push(child),
            Node::Text(text) => lookup(text),
        }
    }
    for child in children {
        substitute(child, params, values, missing);
    }
}
