//! The throttle policy: WS-Policy with a `throttle:MediatorThrottleAssertion`, read at
//! load into plain data (which callers, what they may do, how many at once).

use std::net::Ipv4Addr;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::config::Resource;
use crate::config::{Ctx, Element};

/// A parsed throttle policy.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Policy {
    /// `MaximumConcurrentAccess` (absent or 0: no limit).
    pub(super) concurrency: Option<NonZeroU32>,
    /// The caller entries, in document order.
    pub(super) entries: Vec<Entry>,
}

/// One caller entry (`throttle:ID` with its control).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub(super) caller: Caller,
    pub(super) access: Access,
}

/// Which callers an entry covers.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Caller {
    /// `other` of the IP kind: every caller no other entry covers.
    Other,
    /// An IPv4 range (a single address, a `*` pattern or `first-last`).
    Ip(u32, u32),
    /// Any other IP text (IPv6), compared exactly.
    IpText(String),
    /// A domain, compared exactly (ignoring case).
    Domain(String),
}

/// What an entry lets its callers do.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Access {
    Allow,
    Deny,
    /// At most `max` requests per `unit`; a caller over it waits `prohibit` (or until the
    /// limiter lets it in again).
    Rate {
        max: NonZeroU32,
        unit: Duration,
        prohibit: Option<Duration>,
    },
}

/// Reads the `<policy>` child of `<throttle>`: inline or by `key`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Policy> {
    ctx.check_attrs(el, &["key"]);
    let inline = el.elements().next();
    match (el.attr("key"), inline) {
        (Some(_), Some(_)) => {
            ctx.error(
                &el.loc,
                "<policy> takes `key` or an inline policy, not both",
            );
            None
        }
        (None, None) => {
            ctx.error(&el.loc, "<policy> needs `key` or an inline wsp:Policy");
            None
        }
        (None, Some(root)) => assertion(root, ctx),
        (Some(key), None) => match ctx.keys.resource(key.value.trim()) {
            Some(Resource::Xml(root)) => {
                let root = root.clone();
                assertion(&root, ctx)
            }
            Some(_) => {
                ctx.error(
                    &key.loc,
                    format!("throttle policy `{}` is not XML", key.value),
                );
                None
            }
            None => {
                ctx.error(
                    &key.loc,
                    format!("throttle policy `{}` is not defined", key.value),
                );
                None
            }
        },
    }
}

/// Finds the `MediatorThrottleAssertion` in `root` and reads it.
fn assertion(root: &Element, ctx: &mut Ctx<'_>) -> Option<Policy> {
    let Some(assertion) = root
        .descendants()
        .find(|el| el.local_name() == "MediatorThrottleAssertion")
    else {
        ctx.error(
            &root.loc,
            "throttle policy has no throttle:MediatorThrottleAssertion",
        );
        return None;
    };
    let mut policy = Policy {
        concurrency: None,
        entries: Vec::new(),
    };
    let mut ok = true;
    for child in assertion.elements() {
        match child.local_name() {
            "MaximumConcurrentAccess" => match number(child, ctx) {
                Some(n) => policy.concurrency = NonZeroU32::new(n),
                None => ok = false,
            },
            "Policy" => match entry(child, ctx) {
                Some(it) => policy.entries.push(it),
                None => ok = false,
            },
            other => {
                ctx.error(
                    &child.loc,
                    format!("unknown element <{other}> in the throttle assertion"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(policy)
}

/// One caller entry: `throttle:ID` and `Control`, `Allow` or `Deny` below it.
fn entry(el: &Element, ctx: &mut Ctx<'_>) -> Option<Entry> {
    let Some(id) = find(el, "ID") else {
        ctx.error(&el.loc, "throttle policy entry has no throttle:ID");
        return None;
    };
    let kind = id.attrs.iter().find(|a| local(&a.name) == "type");
    let text = id.text().trim().to_owned();
    let caller = match kind.map(|a| a.value.trim()) {
        None | Some("IP") if text == "other" => Caller::Other,
        None | Some("IP") => ip_caller(&text, id, ctx)?,
        Some("DOMAIN") if text == "other" => Caller::Other,
        Some("DOMAIN") => Caller::Domain(text.to_ascii_lowercase()),
        Some(other) => {
            ctx.error(
                &id.loc,
                format!("throttle:type `{other}` is not IP or DOMAIN"),
            );
            return None;
        }
    };
    let access = if find(el, "Allow").is_some() {
        Access::Allow
    } else if find(el, "Deny").is_some() {
        Access::Deny
    } else if let Some(control) = find(el, "Control") {
        rate(control, ctx)?
    } else {
        ctx.error(
            &el.loc,
            format!("throttle policy entry `{text}` has no Control, Allow or Deny"),
        );
        return None;
    };
    Some(Entry { caller, access })
}

/// `MaximumCount`, `UnitTime` (ms) and `ProhibitTimePeriod` (ms) of a `Control`.
fn rate(control: &Element, ctx: &mut Ctx<'_>) -> Option<Access> {
    let value = |name: &str, ctx: &mut Ctx<'_>| match find(control, name) {
        Some(el) => number(el, ctx).map(Some),
        None => Some(None),
    };
    let max = value("MaximumCount", ctx)?;
    let unit = value("UnitTime", ctx)?;
    let prohibit = value("ProhibitTimePeriod", ctx)?;
    let Some(max) = NonZeroU32::new(max.unwrap_or(0)) else {
        // MaximumCount 0 (or none): no limit
        return Some(Access::Allow);
    };
    match unit.filter(|u| *u > 0) {
        Some(unit) => Some(Access::Rate {
            max,
            unit: Duration::from_millis(u64::from(unit)),
            prohibit: prohibit
                .filter(|p| *p > 0)
                .map(|p| Duration::from_millis(u64::from(p))),
        }),
        None => {
            ctx.error(
                &control.loc,
                "throttle:Control with a MaximumCount needs a UnitTime above 0 (ms)",
            );
            None
        }
    }
}

/// An IP entry: one address, an IPv4 pattern with `*` octets, or `first-last`.
fn ip_caller(text: &str, at: &Element, ctx: &mut Ctx<'_>) -> Option<Caller> {
    let v4 = |s: &str| s.trim().parse::<Ipv4Addr>().ok().map(u32::from);
    let range = if let Some((a, b)) = text.split_once('-') {
        v4(a).zip(v4(b)).filter(|(a, b)| a <= b)
    } else if text.contains('*') {
        let low = v4(&text.replace('*', "0"));
        let high = v4(&text.replace('*', "255"));
        low.zip(high)
    } else if let Some(one) = v4(text) {
        Some((one, one))
    } else if text.parse::<std::net::IpAddr>().is_ok() {
        return Some(Caller::IpText(text.to_owned()));
    } else {
        None
    };
    match range {
        Some((low, high)) => Some(Caller::Ip(low, high)),
        None => {
            ctx.error(
                &at.loc,
                format!("throttle:ID `{text}` is no IP address, pattern or range"),
            );
            None
        }
    }
}

/// The first element named `local` at or below `el`.
fn find<'e>(el: &'e Element, local: &str) -> Option<&'e Element> {
    el.descendants().find(|it| it.local_name() == local)
}

/// The text of `el` as a count or milliseconds.
fn number(el: &Element, ctx: &mut Ctx<'_>) -> Option<u32> {
    let text = el.text();
    match text.trim().parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) => {
            ctx.error(
                &el.loc,
                format!(
                    "<{}> must be a whole number, not `{}`",
                    el.name,
                    text.trim()
                ),
            );
            None
        }
    }
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

impl Caller {
    /// True when this entry covers the caller at `ip` (text) / `domain`.
    pub(super) fn covers(&self, ip: Option<&str>, domain: Option<&str>) -> bool {
        match self {
            Caller::Other => false,
            Caller::Ip(low, high) => ip
                .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
                .is_some_and(|ip| (*low..=*high).contains(&u32::from(ip))),
            Caller::IpText(text) => ip == Some(text.as_str()),
            Caller::Domain(name) => domain.is_some_and(|d| d.eq_ignore_ascii_case(name)),
        }
    }
}
