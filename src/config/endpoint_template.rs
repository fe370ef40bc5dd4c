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
    params: Vec<String>,
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
    let mut params = vec!["name".to_owned(), "uri".to_owned()];
    let mut endpoint = None;
    let mut ok = true;
    for child in ctx.synapse_children(el, &mut ok) {
        match child.local_name() {
            "parameter" => {
                ctx.check_attrs(child, &["name", "defaultValue", "isMandatory"]);
                ctx.no_children(child);
                match ctx.required_attr(child, "name") {
                    Some(a) if !params.contains(&a.value.trim().to_owned()) => {
                        params.push(a.value.trim().to_owned());
                    }
                    Some(_) => {} // `name`/`uri` declared, as the tooling writes them
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
    let mut values: HashMap<String, String> = HashMap::new();
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
        if !template.params.contains(&name) {
            let known = template.params.iter().map(String::as_str);
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
    substitute(&mut endpoint, &template.params, &values);
    ok.then_some(endpoint)
}

/// Replaces, in `el` and below, each attribute value and text that is exactly `$p` for a
/// declared parameter `p` with a given value.
fn substitute(el: &mut Element, params: &[String], values: &HashMap<String, String>) {
    let lookup = |text: &str| -> Option<String> {
        let p = text.trim().strip_prefix('$')?;
        params
            .iter()
            .any(|d| d == p)
            .then(|| values.get(p).cloned())?
    };
    for a in &mut el.attrs {
        if let Some(v) = lookup(&a.value) {
            a.value = v;
        }
    }
    for node in &mut el.children {
        match node {
            Node::Element(child) => substitute(child, params, values),
            Node::Text(text) => {
                if let Some(v) = lookup(text) {
                    *text = v;
                }
            }
        }
    }
}
