//! `<throttle>`: admit or reject requests by a rate policy per caller and a concurrency
//! limit (reference §8.5).
//!
//! The policy (WS-Policy, inline or by `key`) is read at load (`throttle/policy.rs`). Each
//! rate entry is a GCRA limiter (`governor`) that allows `MaximumCount` requests at once
//! and refills one every `UnitTime / MaximumCount`; `ProhibitTimePeriod` keeps a caller
//! over its limit out that long. The counts are kept in this process only (per instance),
//! per throttle `id` and artifact, and survive a reload while the policy stays the same.
//! A request holds its concurrency slot until the message ends.

mod policy;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::filter::{self, Branch};
use super::{Env, Mediator, Reference, Step, visit_all};
use crate::base::mediation::{MediationError, error_json};
use crate::config::{Ctx, Element};
use crate::message::{Body, MessageContext, Value};
use policy::{Access, Caller, Policy};

#[derive(Debug)]
struct Throttle {
    state: Arc<State>,
    /// Runs on an accepted request, then the flow goes on.
    on_accept: Vec<Box<dyn Mediator>>,
    /// Runs on a rejected request, then the flow stops (`None`: answer 429).
    on_reject: Option<Vec<Box<dyn Mediator>>>,
}

/// The live counts of one throttle (shared by the generations that keep its policy).
#[derive(Debug)]
struct State {
    policy: Policy,
    /// One per rate entry of the policy (`None` for `Allow`/`Deny`), by entry index.
    limiters: Vec<Option<Limiter>>,
    slots: Option<Arc<Semaphore>>,
}

#[derive(Debug)]
struct Limiter {
    gcra: DefaultDirectRateLimiter,
    prohibit: Option<Duration>,
    /// While set and in the future, every request of the entry is rejected (locked only
    /// by an entry with a `prohibit` period).
    prohibited_until: Mutex<Option<Instant>>,
}

/// Why a request was rejected: when to try again (`None`: not by waiting).
#[derive(Debug)]
struct Rejected(Option<Duration>);

/// The throttles alive, by artifact, `id` and policy: a reload finds its counts here.
type Registry = Mutex<HashMap<String, Weak<State>>>;
static STATES: LazyLock<Registry> = LazyLock::new(Registry::default);

/// The axis2 property holding the client's IP address (set by every front).
const REMOTE_ADDR: &str = "REMOTE_ADDR";
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Parses `<throttle>`.
pub(super) fn parse(el: &Element, ctx: &mut Ctx<'_>) -> Option<Box<dyn Mediator>> {
    ctx.check_attrs(el, &["id", "onAccept", "onReject", "description"]);
    ctx.no_text(el);
    let id = ctx.required_attr(el, "id").map(|a| a.value.clone());
    let mut policy = None;
    let mut on_accept = branch_attr(el, "onAccept", ctx);
    let mut on_reject = branch_attr(el, "onReject", ctx);
    let mut ok = on_accept.is_ok() && on_reject.is_ok();
    for child in el.elements() {
        let parsed = match child.local_name() {
            "policy" if child.is_synapse() && policy.is_some() => {
                ctx.error(&child.loc, "<throttle> takes one <policy>");
                false
            }
            "policy" if child.is_synapse() => {
                policy = policy::parse(child, ctx);
                policy.is_some()
            }
            name @ ("onAccept" | "onReject") if child.is_synapse() => {
                let slot = if name == "onAccept" {
                    &mut on_accept
                } else {
                    &mut on_reject
                };
                match (filter::branch(child, ctx), slot) {
                    (Some(b), Ok(slot @ None)) => {
                        *slot = Some(b);
                        true
                    }
                    (Some(_), Ok(Some(_))) => {
                        ctx.error(&child.loc, format!("<throttle> takes one {name}"));
                        false
                    }
                    _ => false,
                }
            }
            _ => {
                ctx.unknown_child(el, child);
                false
            }
        };
        ok &= parsed;
    }
    if policy.is_none() && ok {
        ctx.error(&el.loc, "<throttle> needs a <policy>");
    }
    let (id, policy, true) = (id?, policy?, ok) else {
        return None;
    };
    Some(Box::new(Throttle {
        state: state(&format!("{}\0{id}", ctx.artifact), policy),
        on_accept: on_accept.ok().flatten().map(list).unwrap_or_default(),
        on_reject: on_reject.ok().flatten().map(|b| {
            let mut run = list(b);
            run.push(super::drop::stop());
            run
        }),
    }))
}

/// `onAccept="seq"` / `onReject="seq"`.
fn branch_attr(el: &Element, name: &str, ctx: &mut Ctx<'_>) -> Result<Option<Branch>, ()> {
    match el.attr(name) {
        None => Ok(None),
        Some(a) => match ctx.sequence_ref(a.value.trim(), &a.loc) {
            Some(id) => Ok(Some(Branch::Sequence(id))),
            None => Err(()),
        },
    }
}

/// A branch as a list of mediators (a sequence becomes a call of it).
fn list(branch: Branch) -> Vec<Box<dyn Mediator>> {
    match branch {
        Branch::Inline(list) => list,
        Branch::Sequence(id) => vec![super::sequence::invoke(id)],
    }
}

/// The live state for `key` with `policy`: the one already counting, or a new one.
fn state(key: &str, policy: Policy) -> Arc<State> {
    let key = format!("{key}\0{policy:?}");
    let mut states = STATES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(state) = states.get(&key).and_then(Weak::upgrade) {
        return state;
    }
    states.retain(|_, s| s.strong_count() > 0);
    let state = Arc::new(State::new(policy));
    states.insert(key, Arc::downgrade(&state));
    state
}

// === impl State ===

impl State {
    fn new(policy: Policy) -> State {
        let limiters = policy
            .entries
            .iter()
            .map(|entry| match entry.access {
                Access::Rate {
                    max,
                    unit,
                    prohibit,
                } => {
                    let quota = Quota::with_period(unit / max.get())
                        .unwrap_or_else(|| Quota::per_second(max))
                        .allow_burst(max);
                    Some(Limiter {
                        gcra: RateLimiter::direct(quota),
                        prohibit,
                        prohibited_until: Mutex::new(None),
                    })
                }
                Access::Allow | Access::Deny => None,
            })
            .collect();
        let slots = policy
            .concurrency
            .map(|n| Arc::new(Semaphore::new(n.get() as usize)));
        State {
            policy,
            limiters,
            slots,
        }
    }

    /// Admits the request from `ip`/`domain`, with its concurrency slot if there is a limit.
    fn admit(
        &self,
        ip: Option<&str>,
        domain: Option<&str>,
    ) -> Result<Option<OwnedSemaphorePermit>, Rejected> {
        let slot = match &self.slots {
            Some(slots) => match Arc::clone(slots).try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) => return Err(Rejected(Some(Duration::from_secs(1)))),
            },
            None => None,
        };
        let Some(index) = self.entry_for(ip, domain) else {
            return Ok(slot);
        };
        match (&self.policy.entries[index].access, &self.limiters[index]) {
            (Access::Deny, _) => Err(Rejected(None)),
            (Access::Rate { .. }, Some(limiter)) => limiter.admit().map(|()| slot),
            _ => Ok(slot),
        }
    }

    /// The entry covering the caller: a DOMAIN one first, then IP, then `other`.
    fn entry_for(&self, ip: Option<&str>, domain: Option<&str>) -> Option<usize> {
        let entries = &self.policy.entries;
        let named = |want_domain: bool| {
            entries.iter().position(|entry| {
                matches!(entry.caller, Caller::Domain(_)) == want_domain
                    && entry.caller.covers(ip, domain)
            })
        };
        named(true).or_else(|| named(false)).or_else(|| {
            entries
                .iter()
                .position(|entry| entry.caller == Caller::Other)
        })
    }
}

// === impl Limiter ===

impl Limiter {
    fn admit(&self) -> Result<(), Rejected> {
        let Some(prohibit) = self.prohibit else {
            // The GCRA alone decides: no lock on the way (it is one atomic update).
            return self.gcra.check().map_err(|not_until| {
                let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
                Rejected(Some(not_until.wait_time_from(now)))
            });
        };
        let now = Instant::now();
        let mut until = self
            .prohibited_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(end) = *until {
            if end > now {
                return Err(Rejected(Some(end - now)));
            }
            *until = None;
        }
        match self.gcra.check() {
            Ok(()) => Ok(()),
            Err(_) => {
                *until = Some(now + prohibit);
                Err(Rejected(Some(prohibit)))
            }
        }
    }
}

// === impl Throttle ===

impl Mediator for Throttle {
    fn mediate<'c>(
        &'c self,
        msg: &mut MessageContext,
        _env: &Env<'c>,
    ) -> Result<Step<'c>, MediationError> {
        if msg.is_response() {
            return Ok(Step::Continue);
        }
        let ip = match msg.get_axis2(REMOTE_ADDR) {
            Some(Value::Str(ip)) => Some(ip.as_str()),
            _ => None,
        };
        let domain = msg
            .headers
            .get(X_FORWARDED_HOST)
            .and_then(|v| v.to_str().ok());
        match self.state.admit(ip, domain) {
            Ok(slot) => {
                msg.slots.extend(slot);
                Ok(match self.on_accept.is_empty() {
                    true => Step::Continue,
                    false => Step::Mediators(&self.on_accept),
                })
            }
            Err(rejected) => match &self.on_reject {
                Some(list) => Ok(Step::Mediators(list)),
                None => Ok(too_many(msg, rejected)),
            },
        }
    }

    fn references(&self, visit: &mut dyn FnMut(Reference)) {
        visit_all(&self.on_accept, visit);
        if let Some(list) = &self.on_reject {
            visit_all(list, visit);
        }
    }

    fn body_use(&self) -> Option<&'static str> {
        super::body_use_of(&self.on_accept)
            .or_else(|| self.on_reject.as_deref().and_then(super::body_use_of))
    }

    fn reads_payload(&self) -> bool {
        false
    }

    fn branch(&self, n: usize) -> Option<&[Box<dyn Mediator>]> {
        match n {
            0 => Some(&self.on_accept),
            1 => Some(self.on_reject.as_deref().unwrap_or(&[])),
            _ => None,
        }
    }
}

/// Answers a rejected request: 429 with `Retry-After` (whole seconds, rounded up).
fn too_many<'c>(msg: &mut MessageContext, rejected: Rejected) -> Step<'c> {
    let status = StatusCode::TOO_MANY_REQUESTS;
    let mut headers = HeaderMap::new();
    if let Some(wait) = rejected.0 {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        headers.insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    headers.insert(
        actix_web::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = error_json(
        status,
        0,
        "Too many requests",
        "the throttle policy rejected it",
    );
    msg.become_response(status, headers, Body::Full(Bytes::from(body)));
    Step::Respond
}
