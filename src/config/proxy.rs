//! `<proxy>` services (reference §1.4): a service at `/services/<name>` with a `<target>`
//! (sequences and/or an endpoint) and an optional `<publishWSDL>`.

use super::sequence::{self, SequenceConfig};
use super::wsdl::{self, WSDL11_NS, WsdlDocument};
use super::{
    AddressingVersion, ApiConfig, Ctx, Diagnostics, Element, EndpointId, Loc, SeqId, values,
};
use crate::base::xml::escape_attr;

/// A proxy service.
#[derive(Debug)]
pub(crate) struct ProxyConfig {
    /// The name: the service is at `/services/<name>`.
    pub(crate) name: String,
    /// The request flow: the target's in-sequence, followed by a send to the target
    /// endpoint when there is one.
    pub(crate) in_sequence: SeqId,
    /// The response flow (`None`: the response goes straight back).
    pub(crate) out_sequence: Option<SeqId>,
    /// The fault handler (`None`: the global `fault` sequence, else Axon's built-in).
    pub(crate) fault_sequence: Option<SeqId>,
    /// The target endpoint, if any.
    pub(crate) endpoint: Option<EndpointId>,
    /// The WSDL served at `?wsdl`.
    pub(crate) wsdl: Option<PublishedWsdl>,
    /// `startOnLoad="false"`: validated, but not served.
    pub(crate) start_on_load: bool,
    /// `<enableAddressing>`: the WS-Addressing version every send of its flows uses.
    pub(crate) addressing: Option<AddressingVersion>,
    /// `transports`: served on the plain HTTP listener, on the HTTPS one (both when the
    /// attribute is absent or says `all`).
    pub(crate) transports: Transports,
    /// Where it is defined.
    pub(crate) loc: Loc,
}

/// The listeners a proxy service is served on (its `transports` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transports {
    /// Served on the plain HTTP listener.
    pub(crate) http: bool,
    /// Served on the HTTPS listener.
    pub(crate) https: bool,
}

impl Transports {
    /// Both listeners (no `transports`, or `all`).
    const ALL: Transports = Transports {
        http: true,
        https: true,
    };

    /// True when a request that came over TLS (`secure`) or not may reach the proxy.
    pub(crate) fn serves(self, secure: bool) -> bool {
        if secure { self.https } else { self.http }
    }
}

/// A WSDL ready to serve: the document split around its service addresses, which are
/// replaced by the proxy's own address on each `?wsdl`.
#[derive(Debug, Clone)]
pub(crate) struct PublishedWsdl {
    parts: Vec<String>,
}

/// Marks an address while the document is split (a control character cannot appear in XML).
const PLACEHOLDER: &str = "\u{1}axon-address\u{1}";

// === impl PublishedWsdl ===

impl PublishedWsdl {
    fn new(doc: &WsdlDocument) -> PublishedWsdl {
        let mut root = doc.root.clone();
        mark_addresses(&mut root);
        let text = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
            root.to_xml()
        );
        PublishedWsdl {
            parts: text.split(PLACEHOLDER).map(str::to_owned).collect(),
        }
    }

    /// The document with every service address set to `address`.
    pub(crate) fn render(&self, address: &str) -> String {
        self.parts.join(&escape_attr(address))
    }

    /// How many service addresses the document has.
    pub(crate) fn addresses(&self) -> usize {
        self.parts.len() - 1
    }
}

fn mark_addresses(el: &mut Element) {
    let is_service = el.local_name() == "service" && el.ns.as_deref() == Some(WSDL11_NS);
    for child in el.children.iter_mut() {
        if let crate::base::xml::Node::Element(c) = child {
            if is_service {
                for ext in c.children.iter_mut() {
                    if let crate::base::xml::Node::Element(a) = ext
                        && a.local_name() == "address"
                        && let Some(loc) = a.attrs.iter_mut().find(|x| x.name == "location")
                    {
                        loc.value = PLACEHOLDER.to_owned();
                    }
                }
            }
            mark_addresses(c);
        }
    }
}

/// Parses one `<proxy>` artifact.
pub(crate) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<ProxyConfig> {
    ctx.check_attrs(
        el,
        &[
            "name",
            "transports",
            "startOnLoad",
            "pinnedServers",
            "serviceGroup",
        ],
    );
    ctx.no_text(el);
    let name = ctx
        .required_attr(el, "name")
        .map(|a| a.value.trim().to_owned());
    check_name_and_attributes(el, name.as_deref(), ctx);
    let transports = transports(el, ctx);
    let start_on_load = match el.attr("startOnLoad") {
        Some(a) => values::boolean(&a.value, &a.loc, "startOnLoad", ctx.diags).unwrap_or(true),
        None => true,
    };
    let mut ok = true;
    let (target, published, addressing) =
        parse_children(el, name.as_deref().unwrap_or(""), &mut ok, ctx);
    let name = name?;
    let Some((in_sequence, out_sequence, fault_sequence, endpoint)) = target else {
        if ok && !el.elements().any(|c| c.local_name() == "target") {
            ctx.error(&el.loc, "<proxy> needs a <target>");
        }
        return None;
    };
    ok.then_some(ProxyConfig {
        name,
        in_sequence,
        out_sequence,
        fault_sequence,
        endpoint,
        wsdl: published,
        start_on_load,
        addressing,
        transports,
        loc: el.loc.clone(),
    })
}

/// The `transports` attribute (`http`, `https`, `all`, separated by spaces or commas).
fn transports(el: &Element, ctx: &mut Ctx<'_>) -> Transports {
    let Some(a) = el.attr("transports") else {
        return Transports::ALL;
    };
    let mut on = Transports {
        http: false,
        https: false,
    };
    for t in a.value.split([' ', ',']).filter(|t| !t.is_empty()) {
        match t {
            "http" => on.http = true,
            "https" => on.https = true,
            "all" => on = Transports::ALL,
            other => ctx.unsupported(&a.loc, format!("proxy transport `{other}`")),
        }
    }
    if on.http || on.https {
        on
    } else {
        Transports::ALL
    }
}

/// Checks the proxy's name and the attributes Axon does not act on.
fn check_name_and_attributes(el: &Element, name: Option<&str>, ctx: &mut Ctx<'_>) {
    if let Some(n) = name
        && (n.contains('/') || n.contains('?') || n.contains('#'))
    {
        ctx.error(
            &el.loc,
            format!("proxy name `{n}` must not contain `/`, `?` or `#`"),
        );
    }
    for attr in ["pinnedServers", "serviceGroup"] {
        if let Some(a) = el.attr(attr) {
            ctx.diags
                .no_effect(&a.loc, format!("attribute `{attr}`"), "");
        }
    }
}

/// The children of `<proxy>`: its one target and its published WSDL; `ok` turns false on a
/// problem.
fn parse_children(
    el: &Element,
    name: &str,
    ok: &mut bool,
    ctx: &mut Ctx<'_>,
) -> (
    Option<Target4>,
    Option<PublishedWsdl>,
    Option<AddressingVersion>,
) {
    let mut target = None;
    let mut published = None;
    let mut addressing = None;
    for child in ctx.synapse_children(el, ok) {
        match child.local_name() {
            "target" if target.is_some() => {
                ctx.error(&child.loc, "a <proxy> has one <target>");
                *ok = false;
            }
            "target" => target = parse_target(child, name, ctx),
            "publishWSDL" => match parse_publish(child, ctx) {
                Some(w) => published = Some(w),
                None => *ok = false,
            },
            "enableAddressing" => match super::endpoint::parse_addressing(child, ctx) {
                Some(version) => addressing = Some(version),
                None => *ok = false,
            },
            "description" => {}
            "parameter" => {
                ctx.check_attrs(child, &["name", "locked"]);
                let n = child.attr_value("name").unwrap_or("");
                ctx.diags
                    .no_effect(&child.loc, format!("proxy parameter `{n}`"), "");
            }
            "policy" => {
                ctx.unsupported(&child.loc, "WS-Policy on proxy services (`<policy>`)");
                *ok = false;
            }
            local if super::unsupported_ws(local).is_some() => {
                ctx.unsupported(&child.loc, super::unsupported_ws(local).unwrap_or(local));
                *ok = false;
            }
            _ => {
                ctx.unknown_child(el, child);
                *ok = false;
            }
        }
    }
    (target, published, addressing)
}

type Target4 = (SeqId, Option<SeqId>, Option<SeqId>, Option<EndpointId>);

fn parse_target(el: &Element, proxy: &str, ctx: &mut Ctx<'_>) -> Option<Target4> {
    ctx.check_attrs(
        el,
        &["inSequence", "outSequence", "faultSequence", "endpoint"],
    );
    ctx.no_text(el);
    let mut ok = true;
    let names = ["inSequence", "outSequence", "faultSequence"];
    let mut flows: [Option<SeqId>; 3] = [None, None, None];
    for (i, flow) in names.iter().enumerate() {
        if let Some(a) = el.attr(flow) {
            flows[i] = ctx.sequence_ref(a.value.trim(), &a.loc);
            ok &= flows[i].is_some();
        }
    }
    let mut endpoint = match el.attr("endpoint") {
        Some(a) => {
            let id = ctx.endpoint_ref(a.value.trim(), &a.loc);
            ok &= id.is_some();
            id
        }
        None => None,
    };
    for child in el.elements() {
        let local = child.local_name();
        if !child.is_synapse() {
            ctx.unknown_child(el, child);
            ok = false;
            continue;
        }
        if let Some(i) = names.iter().position(|n| *n == local) {
            if el.attr(local).is_some() || flows[i].is_some() {
                ctx.error(&child.loc, format!("{local} is given more than once"));
                ok = false;
                continue;
            }
            let label = format!("{proxy}.{local}");
            match sequence::parse_inline(child, label, ctx) {
                Some(id) => flows[i] = Some(id),
                None => ok = false,
            }
        } else if local == "endpoint" {
            if endpoint.is_some() {
                ctx.error(&child.loc, "the target endpoint is given more than once");
                ok = false;
                continue;
            }
            match crate::config::endpoint_inline(child, ctx) {
                Some(id) => endpoint = Some(id),
                None => ok = false,
            }
        } else if local != "description" {
            ctx.unknown_child(el, child);
            ok = false;
        }
    }
    let [in_seq, out_seq, fault_seq] = flows;
    if ok && in_seq.is_none() && endpoint.is_none() {
        ctx.error(
            &el.loc,
            "a proxy <target> needs an inSequence or an endpoint",
        );
        return None;
    }
    if !ok {
        return None;
    }
    // The request flow: the in-sequence, then (when it lets the message through) the send
    // to the target endpoint, as Synapse's proxy message receiver does.
    let request = match (in_seq, endpoint) {
        (Some(seq), None) => seq,
        (seq, Some(ep)) => {
            let mut mediators = Vec::new();
            if let Some(seq) = seq {
                mediators.extend(ctx.step_invoke(seq));
            }
            mediators.extend(ctx.step_send_to(ep));
            ctx.add_sequence(SequenceConfig {
                name: format!("{proxy}.target"),
                named: false,
                on_error: None,
                mediators,
                loc: el.loc.clone(),
            })
        }
        (None, None) => return None,
    };
    Some((request, out_seq, fault_seq, endpoint))
}

fn parse_publish(el: &Element, ctx: &mut Ctx<'_>) -> Option<PublishedWsdl> {
    ctx.check_attrs(el, &["uri", "key", "endpoint", "preservePolicy"]);
    if let Some(a) = el.attr("endpoint") {
        ctx.unsupported(
            &a.loc,
            "a published WSDL fetched from an endpoint (`endpoint`)",
        );
        return None;
    }
    // Synapse's default, `true`, keeps the WSDL's policies: Axon publishes it unchanged.
    if let Some(a) = el.attr("preservePolicy")
        && !values::boolean(&a.value, &a.loc, "preservePolicy", ctx.diags)?
    {
        ctx.unsupported(
            &a.loc,
            "removing WS-Policy from a published WSDL (`preservePolicy=\"false\"`)",
        );
        return None;
    }
    if let Some(r) = el.elements().find(|c| c.local_name() == "resource") {
        ctx.unsupported(&r.loc, "WSDL import resources (`<resource>`)");
        return None;
    }
    let doc = wsdl::document(el, ctx)?;
    let published = PublishedWsdl::new(&doc);
    if published.addresses() == 0 {
        ctx.diags.warning(
            &el.loc,
            format!(
                "WSDL `{}` has no service address to rewrite; it is served unchanged",
                doc.source
            ),
        );
    }
    Some(published)
}

/// An API whose context is inside `/services/<proxy>` would never be reached.
pub(crate) fn check_shadowing(
    apis: &[ApiConfig],
    proxies: &[ProxyConfig],
    diags: &mut Diagnostics,
) {
    for proxy in proxies {
        let base = format!("/services/{}", proxy.name);
        for api in apis {
            if api.context == base || api.context.starts_with(&format!("{base}/")) {
                diags.error(
                    &api.loc,
                    format!(
                        "API `{}` uses context `{}`, which proxy service `{}` (at {}) serves",
                        api.name, api.context, proxy.name, proxy.loc
                    ),
                );
            }
        }
    }
}

/// The proxy a request path goes to, and the rest of the path after `/services/<name>`.
pub(crate) fn route<'c>(
    proxies: &'c [ProxyConfig],
    path: &str,
) -> Option<(&'c ProxyConfig, String)> {
    let rest = path.strip_prefix("/services/")?;
    let (name, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    // `/services/Name.Endpoint` (an Axis2 endpoint name) goes to the proxy `Name` too.
    let base = name.split_once('.').map_or(name, |(n, _)| n);
    proxies
        .iter()
        .filter(|p| p.start_on_load)
        .find(|p| p.name == name || p.name == base)
        .map(|p| (p, tail.to_owned()))
}
