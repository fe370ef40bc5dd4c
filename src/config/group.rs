//! `<failover>` and `<loadbalance>` groups, their `<session>`, Axon's failover policy
//! elements, and the `<retryConfig>` of a group's children (reference §1.11, §1.12, §2.9).

use std::collections::HashMap;
use std::time::Duration;

use super::endpoint::{AddressSpec, EndpointConfig, EndpointKind, LeafSpec, Target, parse_inline};
use super::values;
use super::{Ctx, Element, EndpointId, Loc};

/// Replay buffer used when a group does not set `<replayBufferSize>`: 1 MiB.
pub(crate) const DEFAULT_REPLAY_BUFFER: usize = 1024 * 1024;

/// Session lifetime when `<sessionTimeout>` is not given (Synapse's 120 s).
pub(crate) const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_millis(120_000);

/// The property that gives a load-balance child its weight.
pub(crate) const WEIGHT_PROPERTY: &str = "loadbalance.weight";

/// A failover or load-balance group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// How a child is chosen.
    pub(crate) strategy: Strategy,
    /// The children, in declaration order.
    pub(crate) children: Vec<GroupChild>,
    /// `buildMessage="true"`: read the whole request body (up to the mediation body limit)
    /// before the first try, so that even a body larger than the replay buffer can be
    /// sent again.
    pub(crate) build_message: bool,
    /// When and how often a message is sent to another child.
    pub(crate) policy: FailoverPolicy,
}

/// How a group chooses the child for a message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Strategy {
    /// `<failover>`: the first ready child in declaration order.
    Failover {
        /// `dynamic="true"` (default): go back to the first child as soon as it is ready;
        /// `false`: stay on the child that last succeeded while it is ready.
        dynamic: bool,
    },
    /// `<loadbalance>`: spread messages over the ready children.
    Loadbalance {
        /// The algorithm.
        algorithm: Algorithm,
        /// `failover="true"` (default): a failed message is sent to another ready child.
        failover: bool,
        /// Session affinity (`<session>` next to `<loadbalance>`).
        session: Option<SessionSpec>,
    },
}

/// Load-balance algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    /// Each ready child in turn.
    RoundRobin,
    /// Smooth weighted round-robin over the ready children (`loadbalance.weight`).
    WeightedRoundRobin,
    /// The ready child with the fewest requests in flight, relative to its weight.
    LeastConnections,
}

/// One child of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupChild {
    /// The child endpoint (a named endpoint for `key` children, else an inline one).
    pub(crate) id: EndpointId,
    /// A weight given on the `<endpoint key>` element itself; otherwise the child
    /// endpoint's own `loadbalance.weight` property applies (default 1).
    pub(crate) weight: Option<u32>,
}

/// Session affinity of a load-balance group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionSpec {
    /// How the session of a message is recognised.
    pub(crate) kind: SessionKind,
    /// How long a session lives after its last message (`<sessionTimeout>`).
    pub(crate) timeout: Duration,
}

/// Session types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionKind {
    /// `type="http"`: the cookie the backend set (`Set-Cookie`), sent back by the client.
    Http,
    /// `type="simpleClientSession"`: the client's `ClientID` (SOAP header in the Synapse
    /// namespace, or an HTTP header of that name).
    ClientId,
}

/// HTTP statuses that make a group try another child (`<failoverHttpStatusCodes>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StatusCodes(Vec<(u16, u16)>);

/// When a group sends a message to another child, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailoverPolicy {
    /// Responses with these statuses are treated as failures of the child.
    pub(crate) http_status_codes: StatusCodes,
    /// Further tries after the first one, at most (`<maxRetries>`); by default only the
    /// number of children limits them (each child is tried at most once per message).
    pub(crate) max_retries: Option<u32>,
    /// Time for all tries of a message through this group (`<deadline>`); by default the
    /// global timeout.
    pub(crate) deadline: Option<Duration>,
    /// `<retryNonIdempotent>true`: POST and PATCH are retried even when the request may
    /// have reached the backend.
    pub(crate) retry_non_idempotent: bool,
    /// Largest request body kept for sending again (`<replayBufferSize>`, bytes).
    pub(crate) replay_buffer: usize,
}

/// A child's `<retryConfig>`: which of its failures may be retried on a sibling (§2.9).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RetryConfig {
    /// Codes never retried (signed, as Synapse reads them; see `values::error_codes`).
    pub(crate) disabled_codes: Vec<i64>,
    /// When not empty, only these codes are retried.
    pub(crate) enabled_codes: Vec<i64>,
}

// === impl StatusCodes ===

impl StatusCodes {
    /// True when `status` is listed.
    pub(crate) fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }

    /// True when no status is listed.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// === impl FailoverPolicy ===

impl Default for FailoverPolicy {
    fn default() -> Self {
        FailoverPolicy {
            http_status_codes: StatusCodes::default(),
            max_retries: None,
            deadline: None,
            retry_non_idempotent: false,
            replay_buffer: DEFAULT_REPLAY_BUFFER,
        }
    }
}

// === impl RetryConfig ===

impl RetryConfig {
    /// WSO2 Synapse's `isRetry`: a disabled code is never retried; otherwise, when enabled
    /// codes are listed, only they are.
    pub(crate) fn allows(&self, code: u32) -> bool {
        let code = i64::from(code);
        if self.disabled_codes.contains(&code) {
            return false;
        }
        self.enabled_codes.is_empty() || self.enabled_codes.contains(&code)
    }
}

// === impl Algorithm ===

impl Algorithm {
    /// The name the health API shows.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "roundRobin",
            Algorithm::WeightedRoundRobin => "weightedRoundRobin",
            Algorithm::LeastConnections => "leastConnections",
        }
    }

    fn from_name(name: &str) -> Option<Algorithm> {
        const PACKAGE: &str = "org.apache.synapse.endpoints.algorithms.";
        let short = name.strip_prefix(PACKAGE).unwrap_or(name);
        match short {
            "RoundRobin" | "roundRobin" => Some(Algorithm::RoundRobin),
            "WeightedRoundRobin" | "weightedRoundRobin" => Some(Algorithm::WeightedRoundRobin),
            "WeightedRRLCAlgorithm" | "leastConnections" => Some(Algorithm::LeastConnections),
            _ => None,
        }
    }
}

// === parsing ===

/// Parses `<failover [dynamic] [buildMessage]>`.
pub(crate) fn parse_failover(el: &Element, ctx: &mut Ctx<'_>) -> Option<GroupSpec> {
    ctx.check_attrs(el, &["dynamic", "buildMessage"]);
    let mut ok = true;
    let dynamic = match el.attr("dynamic") {
        Some(a) => values::boolean(&a.value, &a.loc, "dynamic", ctx.diags).unwrap_or_else(|| {
            ok = false;
            true
        }),
        None => true,
    };
    let build_message = flag(el, "buildMessage", false, &mut ok, ctx);
    let members = parse_members(el, ctx);
    let (children, policy) = members?;
    ok.then_some(GroupSpec {
        strategy: Strategy::Failover { dynamic },
        children,
        build_message,
        policy,
    })
}

/// Parses `<loadbalance [algorithm|policy] [failover] [buildMessage]>`, with the
/// `<session>` written next to it, if any.
pub(crate) fn parse_loadbalance(
    el: &Element,
    session: Option<&Element>,
    ctx: &mut Ctx<'_>,
) -> Option<GroupSpec> {
    ctx.check_attrs(el, &["algorithm", "policy", "failover", "buildMessage"]);
    let mut ok = true;
    let algorithm = match (el.attr("algorithm"), el.attr("policy")) {
        (Some(a), Some(_)) => {
            ctx.error(
                &a.loc,
                "<loadbalance> takes either `algorithm` or `policy`, not both",
            );
            ok = false;
            Algorithm::RoundRobin
        }
        (Some(a), None) => match Algorithm::from_name(a.value.trim()) {
            Some(alg) => alg,
            None if a.value.contains('.') => {
                ctx.unsupported(
                    &a.loc,
                    format!("the custom load-balance algorithm `{}`", a.value.trim()),
                );
                ok = false;
                Algorithm::RoundRobin
            }
            None => {
                ctx.error(
                    &a.loc,
                    format!(
                        "unknown load-balance algorithm `{}` (expected roundRobin, weightedRoundRobin, leastConnections or a Synapse class name)",
                        a.value.trim()
                    ),
                );
                ok = false;
                Algorithm::RoundRobin
            }
        },
        (None, Some(p)) => {
            if p.value.trim() != "roundRobin" {
                ctx.error(
                    &p.loc,
                    format!(
                        "unknown load-balance policy `{}` (the only policy is roundRobin; use `algorithm` for others)",
                        p.value.trim()
                    ),
                );
                ok = false;
            }
            Algorithm::RoundRobin
        }
        (None, None) => Algorithm::RoundRobin,
    };
    let failover = flag(el, "failover", true, &mut ok, ctx);
    let build_message = flag(el, "buildMessage", false, &mut ok, ctx);
    let session = match session {
        Some(s) => match parse_session(s, ctx) {
            Some(spec) => Some(spec),
            None => {
                ok = false;
                None
            }
        },
        None => None,
    };
    let (children, policy) = parse_members(el, ctx)?;
    if algorithm == Algorithm::RoundRobin
        && let Some(loc) = explicit_weight_loc(el)
    {
        ctx.diags.warning(
            &loc,
            "`loadbalance.weight` has no effect with the roundRobin algorithm (use weightedRoundRobin or leastConnections)",
        );
    }
    ok.then_some(GroupSpec {
        strategy: Strategy::Loadbalance {
            algorithm,
            failover,
            session,
        },
        children,
        build_message,
        policy,
    })
}

/// Parses a leaf's `<retryConfig>`.
pub(crate) fn parse_retry_config(el: &Element, ctx: &mut Ctx<'_>) -> Option<RetryConfig> {
    ctx.check_attrs(el, &[]);
    ctx.no_text(el);
    let mut out = RetryConfig::default();
    let mut ok = true;
    for child in el.elements() {
        ctx.no_elements(child);
        let codes = match child.local_name() {
            "disabledErrorCodes" => &mut out.disabled_codes,
            "enabledErrorCodes" => &mut out.enabled_codes,
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
                continue;
            }
        };
        match values::error_codes(&child.text(), &child.loc, ctx.diags) {
            Some(c) => *codes = c,
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Checks the value of a `loadbalance.weight` property: a whole number above zero.
pub(crate) fn weight(value: &str, loc: &Loc, ctx: &mut Ctx<'_>) -> Option<u32> {
    match value.trim().parse::<i64>() {
        Ok(w) if (1..=i64::from(u32::MAX)).contains(&w) => Some(w as u32),
        Ok(_) => {
            ctx.error(
                loc,
                format!("`loadbalance.weight` must be greater than 0, found `{value}`"),
            );
            None
        }
        Err(_) => {
            ctx.error(
                loc,
                format!("`loadbalance.weight` must be a whole number, found `{value}`"),
            );
            None
        }
    }
}

fn flag(el: &Element, name: &str, default: bool, ok: &mut bool, ctx: &mut Ctx<'_>) -> bool {
    match el.attr(name) {
        Some(a) => values::boolean(&a.value, &a.loc, name, ctx.diags).unwrap_or_else(|| {
            *ok = false;
            default
        }),
        None => default,
    }
}

/// The `<endpoint>` children and Axon's policy elements, shared by both group kinds.
fn parse_members(el: &Element, ctx: &mut Ctx<'_>) -> Option<(Vec<GroupChild>, FailoverPolicy)> {
    ctx.no_text(el);
    let mut ok = true;
    let mut children = Vec::new();
    let mut policy = FailoverPolicy::default();
    let mut keys: HashMap<String, Loc> = HashMap::new();
    let mut seen: Vec<&str> = Vec::new();
    for child in ctx.synapse_children(el, &mut ok) {
        let local = child.local_name();
        if local != "endpoint" && local != "member" && local != "description" {
            if seen.contains(&local) {
                ctx.error(
                    &child.loc,
                    format!("<{local}> is given twice in <{}>", el.local_name()),
                );
                ok = false;
                continue;
            }
            seen.push(local);
        }
        match local {
            "endpoint" => {
                if repeated_key(child, &mut keys, ctx) {
                    ok = false;
                    continue;
                }
                match parse_child(child, ctx) {
                    Some(c) => children.push(c),
                    None => ok = false,
                }
            }
            "member" => match parse_member(child, ctx) {
                Some(id) => children.push(GroupChild { id, weight: None }),
                None => ok = false,
            },
            "description" => {}
            _ => match parse_policy(child, &mut policy, ctx) {
                Some(good) => ok &= good,
                None => {
                    ctx.unknown_child(el, child);
                    ok = false;
                }
            },
        }
    }
    if children.is_empty() && ok {
        ctx.error(
            &el.loc,
            format!("<{}> needs at least one <endpoint> child", el.local_name()),
        );
        ok = false;
    }
    ok.then_some((children, policy))
}

/// A static load-balance `<member hostName httpPort httpsPort>`: an address leaf on the
/// member's host that gets the request's own path (`httpPort` when given, else https on
/// `httpsPort`).
fn parse_member(el: &Element, ctx: &mut Ctx<'_>) -> Option<EndpointId> {
    ctx.check_attrs(el, &["hostName", "httpPort", "httpsPort"]);
    ctx.no_children(el);
    let host = ctx.required_attr(el, "hostName")?.value.trim().to_owned();
    let port = |name| {
        el.attr(name)
            .map(|a| (a.value.trim().to_owned(), a.loc.clone()))
    };
    let (scheme, (port, loc)) = match (port("httpPort"), port("httpsPort")) {
        (Some(p), _) => ("http", p),
        (None, Some(p)) => ("https", p),
        (None, None) => {
            ctx.error(&el.loc, "<member> needs an `httpPort` or an `httpsPort`");
            return None;
        }
    };
    let Ok(port) = port.parse::<u16>() else {
        ctx.error(&loc, format!("`{port}` is not a port number"));
        return None;
    };
    let uri = format!("{scheme}://{host}:{port}");
    let valid = uri.parse::<actix_web::http::Uri>().ok().is_some_and(|u| {
        u.host() == Some(host.as_str()) && u.path_and_query().is_none_or(|p| p.as_str() == "/")
    });
    if !valid || host.is_empty() {
        ctx.error(&el.loc, format!("`{host}` is not a host name"));
        return None;
    }
    let target = Target::Address(AddressSpec { uri, member: true });
    let ep = EndpointConfig {
        name: ctx.inline_name("member", &el.loc),
        named: false,
        kind: EndpointKind::Leaf(Box::new(LeafSpec::plain(target))),
        on_error: None,
        properties: Vec::new(),
        loc: el.loc.clone(),
    };
    Some(ctx.add_endpoint(ep))
}

/// True (after reporting it) when `child` names by `key` an endpoint a sibling already
/// names.
fn repeated_key(child: &Element, keys: &mut HashMap<String, Loc>, ctx: &mut Ctx<'_>) -> bool {
    if let Some(key) = child.attr("key") {
        let name = key.value.trim().to_owned();
        if let Some(first) = keys.get(&name) {
            ctx.error(
                &key.loc,
                format!(
                    "endpoint `{name}` is already a child of this group (at {first}); the same endpoint cannot be used twice among siblings"
                ),
            );
            return true;
        }
        keys.insert(name, key.loc.clone());
    }
    false
}

/// A failover policy child of a group; `None` when `child` is not one, else whether it
/// parsed.
fn parse_policy(child: &Element, policy: &mut FailoverPolicy, ctx: &mut Ctx<'_>) -> Option<bool> {
    let text = child.text();
    let mut good = true;
    match child.local_name() {
        "failoverHttpStatusCodes" => {
            ctx.no_elements(child);
            match status_codes(&text, &child.loc, ctx) {
                Some(codes) => policy.http_status_codes = codes,
                None => good = false,
            }
        }
        "maxRetries" => {
            ctx.no_elements(child);
            match values::count(&text, &child.loc, "maxRetries", ctx.diags) {
                Some(n) => policy.max_retries = Some(n),
                None => good = false,
            }
        }
        "deadline" => {
            ctx.no_elements(child);
            match values::millis(&text, &child.loc, "deadline", ctx.diags) {
                Some(d) if !d.is_zero() => policy.deadline = Some(d),
                Some(_) => {
                    ctx.error(&child.loc, "`deadline` must be greater than 0");
                    good = false;
                }
                None => good = false,
            }
        }
        "retryNonIdempotent" => {
            ctx.no_elements(child);
            match values::boolean(&text, &child.loc, "retryNonIdempotent", ctx.diags) {
                Some(b) => policy.retry_non_idempotent = b,
                None => good = false,
            }
        }
        "replayBufferSize" => {
            ctx.no_elements(child);
            match values::count(&text, &child.loc, "replayBufferSize", ctx.diags) {
                Some(n) => policy.replay_buffer = n as usize,
                None => good = false,
            }
        }
        _ => return None,
    }
    Some(good)
}

/// One `<endpoint>` child: a `key` reference (which may carry its own weight) or an
/// inline endpoint of any kind.
fn parse_child(el: &Element, ctx: &mut Ctx<'_>) -> Option<GroupChild> {
    if let Some(a) = el.attr("onError") {
        ctx.diags.warning(
            &a.loc,
            "`onError` on an endpoint inside a group has no effect: the group retries the message; put `onError` on the group's <endpoint>",
        );
    }
    let Some(key) = el.attr("key") else {
        let id = parse_inline(el, ctx)?;
        return Some(GroupChild { id, weight: None });
    };
    ctx.check_attrs(el, &["key", "onError"]);
    ctx.no_text(el);
    let mut weight = None;
    let mut ok = true;
    for child in el.elements() {
        let is_weight = child.is_synapse()
            && child.local_name() == "property"
            && child.attr_value("name").map(str::trim) == Some(WEIGHT_PROPERTY);
        if !is_weight {
            ctx.error(
                &child.loc,
                "an <endpoint key> inside a group takes only a `loadbalance.weight` <property>",
            );
            ok = false;
            continue;
        }
        ctx.check_attrs(child, &["name", "value"]);
        ctx.no_children(child);
        match child.attr("value") {
            Some(v) => match self::weight(&v.value, &v.loc, ctx) {
                Some(w) => weight = Some(w),
                None => ok = false,
            },
            None => {
                ctx.error(&child.loc, "endpoint <property> needs a `value`");
                ok = false;
            }
        }
    }
    let id = ctx.endpoint_ref(key.value.trim(), &key.loc)?;
    ok.then_some(GroupChild { id, weight })
}

fn parse_session(el: &Element, ctx: &mut Ctx<'_>) -> Option<SessionSpec> {
    ctx.check_attrs(el, &["type"]);
    ctx.no_text(el);
    let kind = match ctx.required_attr(el, "type")?.value.trim() {
        "http" => SessionKind::Http,
        "simpleClientSession" => SessionKind::ClientId,
        "soap" => {
            let loc = el.attr("type").map_or(&el.loc, |a| &a.loc);
            ctx.unsupported(loc, "SOAP sessions (`<session type=\"soap\">`)");
            return None;
        }
        other => {
            let loc = el.attr("type").map_or(&el.loc, |a| &a.loc).clone();
            ctx.error(
                &loc,
                format!("unknown session type `{other}` (expected http or simpleClientSession)"),
            );
            return None;
        }
    };
    let mut timeout = DEFAULT_SESSION_TIMEOUT;
    let mut ok = true;
    for child in el.elements() {
        match child.local_name() {
            "sessionTimeout" => {
                ctx.no_elements(child);
                match values::millis(&child.text(), &child.loc, "sessionTimeout", ctx.diags) {
                    Some(d) if !d.is_zero() => timeout = d,
                    Some(_) => {
                        ctx.error(&child.loc, "`sessionTimeout` must be greater than 0");
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            _ => {
                ctx.unknown_child(el, child);
                ok = false;
            }
        }
    }
    ok.then_some(SessionSpec { kind, timeout })
}

/// `502, 503 504` or classes such as `5xx`.
fn status_codes(text: &str, loc: &Loc, ctx: &mut Ctx<'_>) -> Option<StatusCodes> {
    let mut out = Vec::new();
    let mut ok = true;
    for item in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let range = match item.as_bytes() {
            [d @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => {
                let base = u16::from(d - b'0') * 100;
                Some((base, base + 99))
            }
            _ => item
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .map(|c| (c, c)),
        };
        match range {
            Some(r) => out.push(r),
            None => {
                ctx.error(
                    loc,
                    format!(
                        "`{item}` is not an HTTP status code (100 to 599, or a class such as 5xx)"
                    ),
                );
                ok = false;
            }
        }
    }
    if ok && out.is_empty() {
        ctx.error(loc, "<failoverHttpStatusCodes> lists no status code");
        ok = false;
    }
    ok.then_some(StatusCodes(out))
}

/// Where the first `loadbalance.weight` is written among the group's direct children.
fn explicit_weight_loc(el: &Element) -> Option<Loc> {
    el.elements()
        .filter(|c| c.local_name() == "endpoint")
        .flat_map(|c| c.elements())
        .find(|p| {
            p.local_name() == "property"
                && p.attr_value("name").map(str::trim) == Some(WEIGHT_PROPERTY)
        })
        .map(|p| p.loc.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_config_follows_wso2_is_retry() {
        let none = RetryConfig::default();
        assert!(none.allows(101_503));
        let disabled = RetryConfig {
            disabled_codes: vec![101_503],
            enabled_codes: vec![101_503, 101_504],
        };
        assert!(!disabled.allows(101_503), "disabled wins over enabled");
        assert!(disabled.allows(101_504));
        assert!(!disabled.allows(101_505), "only enabled codes are retried");
    }

    #[test]
    fn algorithm_names_accept_synapse_classes_and_short_names() {
        for (name, alg) in [
            (
                "org.apache.synapse.endpoints.algorithms.RoundRobin",
                Algorithm::RoundRobin,
            ),
            (
                "org.apache.synapse.endpoints.algorithms.WeightedRoundRobin",
                Algorithm::WeightedRoundRobin,
            ),
            (
                "org.apache.synapse.endpoints.algorithms.WeightedRRLCAlgorithm",
                Algorithm::LeastConnections,
            ),
            ("leastConnections", Algorithm::LeastConnections),
            ("roundRobin", Algorithm::RoundRobin),
        ] {
            assert_eq!(Algorithm::from_name(name), Some(alg), "{name}");
        }
        assert_eq!(Algorithm::from_name("com.example.Mine"), None);
    }

    #[test]
    fn status_classes_cover_their_hundred() {
        let codes = StatusCodes(vec![(500, 599), (429, 429)]);
        assert!(codes.contains(503) && codes.contains(429) && codes.contains(599));
        assert!(!codes.contains(404) && !codes.contains(200));
    }
}
