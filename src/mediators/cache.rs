//! `<cache>`: MI 4.x's response cache (reference §8.4).
//!
//! On a request the mediator is a finder: it digests the request (method, path and query,
//! the hashed headers, the body) and, on a hit, turns the message into the stored response
//! and answers (or runs `onCacheHit`) without calling the backend. On a miss it marks the
//! message, and a `<cache>` on the response path (the collector) stores the response. The
//! store is bounded (`maxSize` entries, least recently used evicted first; each response at
//! most `maxMessageSize` bytes), kept in this process only, per cache `id` and artifact, and
//! survives a reload while the settings stay the same (as `throttle` does).

mod store;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::Duration;

use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use regex::Regex;
use sha1::{Digest, Sha1};

use super::{Env, Mediator, Reference, Step, visit_all};
use crate::base::mediation::MediationError;
use crate::config::{Ctx, Element};
use crate::message::payload::PayloadError;
use crate::message::{Body, MessageContext, Value};
pub(crate) use store::Stats;
use store::{Store, Stored};

/// The property naming the request's digest (as MI's `requestHash`).
const REQUEST_HASH: &str = "requestHash";
/// The property naming the store the finder missed in (read by the collector).
const STORE_KEY: &str = "_AXON_CACHE_STORE";
/// The hash generator MI uses by default; the only one Axon implements.
const HTTP_HASH: &str = "org.wso2.carbon.mediator.cache.digest.HttpRequestHashGenerator";
/// Headers never hashed: they differ on every request (the message id, the date) or
/// describe the framing, not the request.
const NEVER_HASHED: &[&str] = &[
    "x-request-id",
    "date",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "upgrade",
];
/// `maxSize` when none is given (MI's default is unbounded; Axon bounds every store).
const DEFAULT_MAX_SIZE: usize = 1000;

#[derive(Debug)]
struct Cache {
    /// The finder's store (`None` for a `collector="true"` cache: it stores in the store
    /// the finder marked the message with).
    store: Option<Arc<Store>>,
    /// Runs on a hit (the message is the cached response), then the flow stops.
    on_hit: Option<Vec<Box<dyn Mediator>>>,
}

/// What a cache was configured with (the part of its identity a reload compares).
#[derive(Debug)]
struct Settings {
    timeout: Duration,
    max_message_size: Option<usize>,
    max_size: usize,
    /// `None`: every method (`*`).
    methods: Option<Vec<Method>>,
    exclude: Vec<HeaderName>,
    /// `Some`: only these headers are hashed.
    include: Option<Vec<HeaderName>>,
    codes: Regex,
    age: bool,
}

/// The live stores, by artifact, `id` and settings.
type Registry = Mutex<HashMap<String, Weak<Store>>>;
static STORES: LazyLock<Registry> = LazyLock::new(Registry::default);

/// Parses `<cache>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(
        el,
        &[
            "id",
            "timeout",
            "maxMessageSize",
            "collector",
            "scope",
            "description",
        ],
    );
    ctx.no_text(el);
    if let Some(scope) = el.attr("scope").filter(|a| a.value.trim() != "per-host") {
        ctx.unsupported(&scope.loc, "a cache `scope` other than per-host");
        return None;
    }
    let collector = el
        .attr("collector")
        .is_some_and(|a| a.value.trim() == "true");
    let name = match el.attr("id") {
        Some(id) => format!("{}\0{}", ctx.artifact, id.value.trim()),
        None => format!("{}\0{}:{}", ctx.artifact, el.loc.line, el.loc.col),
    };
    let parsed = Settings::parse_attrs(el, ctx);
    let mut ok = parsed.is_some();
    let mut settings = parsed.unwrap_or_default();
    let mut on_hit = None;
    for child in el.elements() {
        ok &= match child.local_name() {
            "onCacheHit" if child.is_synapse() && !collector => {
                on_hit = on_hit_branch(child, ctx);
                on_hit.is_some()
            }
            "protocol" if child.is_synapse() && !collector => settings.parse_protocol(child, ctx),
            "implementation" if child.is_synapse() && !collector => {
                settings.parse_implementation(child, ctx)
            }
            _ => {
                ctx.unknown_child(el, child);
                false
            }
        };
    }
    if !ok {
        return None;
    }
    let id = el.attr("id").map(|a| a.value.trim().to_owned());
    Some(Box::new(Cache {
        store: (!collector).then(|| store(&name, id, settings)),
        on_hit,
    }))
}

/// `<onCacheHit [sequence]>mediators</onCacheHit>`: the branch, ending the flow.
fn on_hit_branch(el: &Element, ctx: &mut Ctx<'_>) -> Option<Vec<Box<dyn Mediator>>> {
    ctx.check_attrs(el, &["sequence"]);
    let mut list = match el.attr("sequence") {
        Some(a) => vec![super::sequence::invoke(
            ctx.sequence_ref(a.value.trim(), &a.loc)?,
        )],
        None => super::parse_list(el, ctx),
    };
    list.push(super::drop::stop());
    Some(list)
}

/// The live store named `name` with `settings`: the one already filled, or a new one.
fn store(name: &str, id: Option<String>, settings: Settings) -> Arc<Store> {
    let key = format!("{name}\0{settings:?}");
    let mut stores = STORES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(store) = stores.get(&key).and_then(Weak::upgrade) {
        return store;
    }
    stores.retain(|_, s| s.strong_count() > 0);
    let store = Arc::new(Store::new(key.clone(), id, settings));
    stores.insert(key, Arc::downgrade(&store));
    store
}

/// The store a finder marked the message with.
fn store_named(key: &str) -> Option<Arc<Store>> {
    let stores = STORES.lock().unwrap_or_else(PoisonError::into_inner);
    stores.get(key).and_then(Weak::upgrade)
}

/// The counts of every live cache (for the health API), sorted by name.
pub(crate) fn stats() -> Vec<Stats> {
    let stores: Vec<Arc<Store>> = {
        let stores = STORES.lock().unwrap_or_else(PoisonError::into_inner);
        stores.values().filter_map(Weak::upgrade).collect()
    };
    let mut all: Vec<Stats> = stores.iter().map(|s| s.stats()).collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

// === impl Settings ===

impl Default for Settings {
    /// MI's defaults, but for `maxSize` (bounded here).
    fn default() -> Settings {
        Settings {
            timeout: Duration::from_secs(5000),
            max_message_size: None,
            max_size: DEFAULT_MAX_SIZE,
            methods: None,
            exclude: Vec::new(),
            include: None,
            codes: Regex::new("^(?:.*)$").expect("a valid pattern"),
            age: false,
        }
    }
}

impl Settings {
    fn parse_attrs(el: &Element, ctx: &mut Ctx<'_>) -> Option<Settings> {
        let number = |ctx: &mut Ctx<'_>, name: &str| -> Result<Option<i64>, ()> {
            let Some(a) = el.attr(name) else {
                return Ok(None);
            };
            match a.value.trim().parse::<i64>() {
                Ok(n) if n > 0 || n == -1 => Ok(Some(n)),
                _ => {
                    ctx.error(
                        &a.loc,
                        format!("<cache {name}> must be a positive whole number (or -1)"),
                    );
                    Err(())
                }
            }
        };
        let timeout = number(ctx, "timeout");
        let size = number(ctx, "maxMessageSize");
        let (Ok(timeout), Ok(size)) = (timeout, size) else {
            return None;
        };
        Some(Settings {
            timeout: Duration::from_secs(match timeout {
                None | Some(-1) => 5000,
                Some(s) => s.unsigned_abs(),
            }),
            max_message_size: size.filter(|n| *n > 0).map(|n| n as usize),
            ..Settings::default()
        })
    }

    /// `<implementation maxSize="n"/>`.
    fn parse_implementation(&mut self, el: &Element, ctx: &mut Ctx<'_>) -> bool {
        ctx.check_attrs(el, &["maxSize", "type"]);
        let Some(a) = el.attr("maxSize") else {
            return true;
        };
        match a.value.trim().parse::<i64>() {
            Ok(n) if n > 0 => {
                self.max_size = n as usize;
                true
            }
            Ok(-1) => true,
            _ => {
                ctx.error(
                    &a.loc,
                    "<implementation maxSize> must be a positive whole number",
                );
                false
            }
        }
    }

    /// `<protocol type="HTTP">` and its settings.
    fn parse_protocol(&mut self, el: &Element, ctx: &mut Ctx<'_>) -> bool {
        ctx.check_attrs(el, &["type"]);
        if let Some(t) = el.attr("type").filter(|t| t.value.trim() != "HTTP") {
            ctx.unsupported(&t.loc, format!("cache protocol `{}`", t.value.trim()));
            return false;
        }
        let mut ok = true;
        for child in el.elements() {
            let text = child.text();
            let text = text.trim();
            ok &= match child.local_name() {
                "methods" => self.parse_methods(text, child, ctx),
                "headersToExcludeInHash" => {
                    self.exclude = headers(text, child, ctx).unwrap_or_default();
                    true
                }
                "headersToIncludeInHash" => {
                    self.include = headers(text, child, ctx).filter(|h| !h.is_empty());
                    true
                }
                "responseCodes" => match Regex::new(&format!("^(?:{text})$")) {
                    Ok(codes) => {
                        self.codes = codes;
                        true
                    }
                    Err(err) => {
                        ctx.error(
                            &child.loc,
                            format!("<responseCodes> is not a regular expression: {err}"),
                        );
                        false
                    }
                },
                "enableCacheControl" => bool_text(text, child, ctx).is_some(),
                "includeAgeHeader" => match bool_text(text, child, ctx) {
                    Some(age) => {
                        self.age = age;
                        true
                    }
                    None => false,
                },
                "hashGenerator" if text == HTTP_HASH || text.is_empty() => true,
                "hashGenerator" => {
                    ctx.unsupported(&child.loc, format!("the cache hash generator `{text}`"));
                    false
                }
                _ => {
                    ctx.unknown_child(el, child);
                    false
                }
            };
        }
        ok
    }

    fn parse_methods(&mut self, text: &str, el: &Element, ctx: &mut Ctx<'_>) -> bool {
        const VERBS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
        let mut methods = Vec::new();
        for m in text.split(',').map(|m| m.trim().to_ascii_uppercase()) {
            if m == "*" {
                self.methods = None;
                return true;
            }
            match VERBS
                .contains(&m.as_str())
                .then(|| Method::from_bytes(m.as_bytes()))
            {
                Some(Ok(method)) => methods.push(method),
                _ => {
                    ctx.error(
                        &el.loc,
                        format!("<methods> names `{m}`, which is no HTTP method"),
                    );
                    return false;
                }
            }
        }
        self.methods = Some(methods);
        true
    }

    fn allows(&self, method: &Method) -> bool {
        self.methods.as_ref().is_none_or(|m| m.contains(method))
    }
}

/// A comma-separated list of header names.
fn headers(text: &str, el: &Element, ctx: &mut Ctx<'_>) -> Option<Vec<HeaderName>> {
    let mut out = Vec::new();
    for h in text.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        match HeaderName::from_bytes(h.as_bytes()) {
            Ok(name) => out.push(name),
            Err(_) => {
                ctx.error(&el.loc, format!("`{h}` is no header name"));
                return None;
            }
        }
    }
    Some(out)
}

fn bool_text(text: &str, el: &Element, ctx: &mut Ctx<'_>) -> Option<bool> {
    match text {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            ctx.error(
                &el.loc,
                format!("<{}> must be true or false", el.local_name()),
            );
            None
        }
    }
}

// === impl Cache ===

impl Mediator for Cache {
    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        if msg.is_response() {
            return Ok(collect(msg));
        }
        let Some(store) = &self.store else {
            return Ok(Step::Continue);
        };
        if !store.settings.allows(&msg.method) {
            return Ok(Step::Continue);
        }
        let body = match msg.body_bytes() {
            Ok(body) => body,
            Err(PayloadError::NeedBody) => return Ok(Step::NeedBody),
            Err(_) => return Ok(Step::Continue),
        };
        let digest = hex(&digest(msg, &store.settings, &body));
        match store.find(&digest) {
            Some(hit) => Ok(self.answer(msg, hit, store.settings.age)),
            None => {
                msg.set(REQUEST_HASH, digest);
                msg.set(STORE_KEY, store.key.clone());
                Ok(Step::Continue)
            }
        }
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        if let Some(list) = &self.on_hit {
            visit_all(list, visit);
        }
    }

    fn body_use(&self) -> Option<&'static str> {
        self.on_hit.as_deref().and_then(super::body_use_of)
    }

    fn reads_payload(&self) -> bool {
        false
    }

    fn branch(&self, n: usize) -> Option<&[Box<dyn Mediator>]> {
        (n == 0).then(|| self.on_hit.as_deref().unwrap_or(&[]))
    }
}

impl Cache {
    /// Turns the request into the stored response and answers it (or runs `onCacheHit`).
    fn answer<'c>(&'c self, msg: &mut MessageContext, hit: Stored, age: bool) -> Step<'c> {
        let mut headers = hit.response.headers.clone();
        if age {
            headers.insert(
                HeaderName::from_static("age"),
                HeaderValue::from(hit.age.as_secs()),
            );
        }
        let body = Body::Full(hit.response.body.clone());
        msg.become_response(hit.response.status, headers, body);
        match &self.on_hit {
            Some(list) => Step::Mediators(list),
            None => Step::Respond,
        }
    }
}

/// The collector: stores the response when the finder missed and the settings allow it.
fn collect<'c>(msg: &mut MessageContext) -> Step<'c> {
    let (Some(Value::Str(key)), Some(Value::Str(hash))) =
        (msg.get(STORE_KEY), msg.get(REQUEST_HASH))
    else {
        return Step::Continue;
    };
    let Some(store) = store_named(key) else {
        return Step::Continue;
    };
    let Some(status) = msg.status else {
        return Step::Continue;
    };
    let settings = &store.settings;
    if !settings.codes.is_match(status.as_str())
        || !settings.allows(&msg.method)
        || forbids_storing(msg)
    {
        return Step::Continue;
    }
    let body = match msg.body_bytes() {
        Ok(body) => body,
        Err(PayloadError::NeedBody) => return Step::NeedBody,
        Err(_) => return Step::Continue,
    };
    if settings
        .max_message_size
        .is_some_and(|max| body.len() > max)
    {
        return Step::Continue;
    }
    let hash = hash.clone();
    store.put(&hash, status, msg.headers.clone(), body);
    msg.remove_property(crate::message::Scope::Default, STORE_KEY);
    Step::Continue
}

/// `Cache-Control: no-store` or `no-cache` on the response.
fn forbids_storing(msg: &MessageContext) -> bool {
    msg.headers
        .get_all(actix_web::http::header::CACHE_CONTROL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| {
            let d = d.trim();
            d.eq_ignore_ascii_case("no-store") || d.eq_ignore_ascii_case("no-cache")
        })
}

/// The request's digest: method, path and query, the hashed headers (by name, sorted),
/// the body; each part length-prefixed so that no two requests share a byte string.
fn digest(msg: &MessageContext, settings: &Settings, body: &[u8]) -> [u8; 20] {
    let mut sha = Sha1::new();
    let mut part = |bytes: &[u8]| {
        sha.update((bytes.len() as u64).to_be_bytes());
        sha.update(bytes);
    };
    part(msg.method.as_str().as_bytes());
    part(
        msg.uri
            .path_and_query()
            .map_or("", |p| p.as_str())
            .as_bytes(),
    );
    let mut hashed: Vec<(&str, &[u8])> = msg
        .headers
        .iter()
        .filter(|(name, _)| match &settings.include {
            Some(include) => include.contains(name),
            None => !settings.exclude.contains(name),
        } && !NEVER_HASHED.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    hashed.sort_unstable();
    for (name, value) in hashed {
        part(name.as_bytes());
        part(value);
    }
    part(body);
    sha.finalize().into()
}

/// The digest in lower-case hex (MI's `requestHash`), without a formatter per byte.
fn hex(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    digest
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]])
        .map(char::from)
        .collect()
}
