//! Delivering a message through a failover or load-balance group: choosing a child,
//! trying it, and deciding whether the same message goes to another child.
//!
//! The loop runs on the worker that carries the message, like a leaf send, and recurses
//! into nested groups. Its rules (see `docs/failover.md`):
//!
//! - Each child is tried at most once per message, so the child that just failed is
//!   never chosen again; `<maxRetries>` caps further tries; every try of the message
//!   shares one deadline (`<deadline>`, else the global timeout), and a try still running
//!   when it passes is abandoned with 101504.
//! - Every try sends the same method, headers and body: the body is kept in a replay
//!   buffer (`<replayBufferSize>`, 1 MiB by default; the whole body up to the mediation
//!   limit with `buildMessage="true"`). A larger body is sent once and never retried.
//! - Transport failures fail over; responses with a status listed in
//!   `<failoverHttpStatusCodes>` do too. A failing child's `<retryConfig>` may forbid it.
//! - A request that is not idempotent (POST, PATCH, without an `Idempotency-Key`) is sent
//!   again only when the failure proves that no byte reached the backend (connection
//!   refused or not made), unless `<retryNonIdempotent>true`.
//! - When nothing could be tried, the error is 303000; once children were tried and none
//!   is left, the error keeps the last child's code (reference §0.4) and answers 503.

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::http::header::HeaderName;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use tokio::time::Instant;

use self::plan::{Failed, FailoverPlan, Refusal, Rules, Step};
use super::group::Group;
use super::session::RequestSession;
use super::state::EndpointState;
use super::{Endpoints, Node, http};
use crate::base::error::{EndpointError, ErrorKind, ProtocolState, codes};
use crate::base::limits::Limits;
use crate::config::{Algorithm, EndpointId, Strategy};
use crate::message::{AttemptOutcome, Body, Buffered, MessageContext, RequestSnapshot};

pub(crate) mod plan;

/// A request carrying this header may be retried whatever its method (see `refusal`).
static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The deadline and the trace path of a message inside a group.
#[derive(Debug)]
pub(super) struct Scope {
    deadline: Instant,
    path: Arc<str>,
}

/// The request body, kept for sending again.
#[derive(Debug)]
enum Replay {
    Empty,
    Full(Bytes),
    /// Not kept; the reason, for the error.
    Unavailable(String),
}

/// One message's way through one group: what every step of the loop shares.
#[derive(Debug)]
struct Run {
    replay: Replay,
    snapshot: Option<RequestSnapshot>,
    scope: Scope,
    parent_path: Option<Arc<str>>,
    session: Option<RequestSession>,
    plan: FailoverPlan,
    idempotency_key: bool,
    started: Instant,
    /// True once a try may have changed the message (so the next one restores it).
    dirty: bool,
    last: Option<EndpointError>,
}

// === impl Endpoints (groups) ===

impl Endpoints {
    /// Delivers `msg` through `group` (inside the group `outer`, if any).
    pub(super) fn deliver_group<'a>(
        &'a self,
        group: &'a Group,
        msg: &'a mut MessageContext,
        limits: &'a Limits,
        outer: Option<&'a Scope>,
    ) -> LocalBoxFuture<'a, Result<(), EndpointError>> {
        Box::pin(self.run_group(group, msg, limits, outer))
    }

    /// Whether endpoint `id` may take a message now (a group: when any child may).
    pub(crate) fn ready(&self, id: EndpointId, now: Instant) -> bool {
        match self.node(id) {
            Some(Node::Leaf(leaf)) => leaf.health.ready(now),
            Some(Node::Group(g)) => g.children.iter().any(|c| self.ready(c.id, now)),
            _ => false,
        }
    }

    /// The state to show for a child that was not ready.
    fn unready_state(&self, id: EndpointId) -> EndpointState {
        match self.node(id) {
            Some(Node::Leaf(leaf)) => leaf.health.state(),
            Some(Node::Group(g)) => {
                plan::group_state(g.children.iter().map(|c| (false, self.unready_state(c.id))))
            }
            _ => EndpointState::Suspended,
        }
    }

    async fn run_group(
        &self,
        group: &Group,
        msg: &mut MessageContext,
        limits: &Limits,
        outer: Option<&Scope>,
    ) -> Result<(), EndpointError> {
        let mut run = Run::begin(group, msg, limits, outer).await?;
        while let Some(i) = self.choose(group, msg, &mut run) {
            run.rewind(msg);
            let in_flight = group.enter(i);
            match self.try_child(group, i, msg, limits, &run).await? {
                Ok(()) => {
                    if self.response_fails_over(group, i, msg, &mut run) {
                        continue;
                    }
                    accept(group, i, msg, &mut run, in_flight);
                    return Ok(());
                }
                Err(error) if not_tried(&error) => continue,
                Err(error) => self.after_error(group, i, error, msg, &mut run)?,
            }
        }
        Err(self.give_up(group, msg, run))
    }

    /// The next child, as the plan and the group's algorithm choose it among the ready
    /// ones; the children passed over are shown in the trace.
    fn choose(&self, group: &Group, msg: &mut MessageContext, run: &mut Run) -> Option<usize> {
        let now = Instant::now();
        let ready = |i: usize| self.ready(group.children[i].id, now);
        let pick = |eligible: &dyn Fn(usize) -> bool| {
            group
                .state
                .selector
                .pick(&group.weights, |i| group.load(i), eligible)
        };
        let i = run.plan.next(ready, pick)?;
        for j in run.plan.passed_over(i, ready) {
            self.record_skipped(group, j, msg, &run.scope);
        }
        Some(i)
    }

    fn record_skipped(&self, group: &Group, j: usize, msg: &mut MessageContext, scope: &Scope) {
        let child = &group.children[j];
        let state = self.unready_state(child.id).as_str();
        msg.record_attempt_via(
            Some(scope.path.clone()),
            child.name.clone(),
            AttemptOutcome::Skipped(state),
        );
    }

    /// One try on child `i`, bounded by the group's deadline. The outer error is the
    /// deadline passing: the try is abandoned, and as its own deadline had not passed, it
    /// does not count against the child.
    async fn try_child(
        &self,
        group: &Group,
        i: usize,
        msg: &mut MessageContext,
        limits: &Limits,
        run: &Run,
    ) -> Result<Result<(), EndpointError>, EndpointError> {
        let child = &group.children[i];
        let attempt = async {
            match self.node(child.id) {
                Some(Node::Leaf(leaf)) => {
                    self.deliver_leaf(leaf, msg, limits, Some(&run.scope.path))
                        .await
                }
                Some(Node::Group(inner)) => {
                    self.deliver_group(inner, msg, limits, Some(&run.scope))
                        .await
                }
                _ => Err(EndpointError::new(
                    ErrorKind::NotReady,
                    ProtocolState::RequestReady,
                    child.name.clone(),
                    "endpoint is not part of this configuration",
                )),
            }
        };
        match tokio::time::timeout_at(run.scope.deadline, attempt).await {
            Ok(result) => Ok(result),
            Err(_) => {
                msg.record_attempt_via(
                    Some(run.scope.path.clone()),
                    child.name.clone(),
                    AttemptOutcome::Failed(codes::CONNECTION_TIMEOUT),
                );
                Err(deadline_passed(
                    group,
                    child.name.clone(),
                    run.started,
                    &run.scope,
                ))
            }
        }
    }

    /// A response whose status the group fails over: true when the message goes to
    /// another child (and this response is dropped unread).
    fn response_fails_over(
        &self,
        group: &Group,
        i: usize,
        msg: &mut MessageContext,
        run: &mut Run,
    ) -> bool {
        let status = msg.status.map_or(0, |s| s.as_u16());
        if !group.spec.policy.http_status_codes.contains(status) {
            return false;
        }
        let failed = self.failed(group, i, None, msg, run);
        match run.plan.after(&failed, |j| {
            self.ready(group.children[j].id, Instant::now())
        }) {
            Step::Retry => {
                crate::base::metrics::global().failover(&group.name, "status");
                msg.body = Body::Empty;
                let child = group.children[i].name.clone();
                run.last = Some(status_failover(group, child, status));
                true
            }
            Step::Refused(why) => {
                not_retried(msg, &run.parent_path, group, why);
                false
            }
            Step::Stop | Step::Exhausted => false,
        }
    }

    /// After child `i` failed with `error`: `Ok` when the message goes to another child.
    fn after_error(
        &self,
        group: &Group,
        i: usize,
        error: EndpointError,
        msg: &mut MessageContext,
        run: &mut Run,
    ) -> Result<(), EndpointError> {
        let failed = self.failed(group, i, Some(&error), msg, run);
        match run.plan.after(&failed, |j| {
            self.ready(group.children[j].id, Instant::now())
        }) {
            Step::Retry => {
                crate::base::metrics::global().failover(&group.name, "error");
                run.last = Some(error);
                Ok(())
            }
            Step::Stop => Err(error),
            Step::Exhausted => Err(exhausted(group, &error)),
            Step::Refused(why) => {
                not_retried(msg, &run.parent_path, group, why);
                Err(refused(error, why, &run.replay, msg, group))
            }
        }
    }

    /// No child left: the last child's error, or 303000 when none could be tried.
    fn give_up(&self, group: &Group, msg: &mut MessageContext, run: Run) -> EndpointError {
        if let Some(error) = &run.last {
            return exhausted(group, error);
        }
        for j in run.plan.untried() {
            self.record_skipped(group, j, msg, &run.scope);
        }
        no_ready_child(group)
    }

    /// What the plan needs to know of child `i`'s failure (with `error`, or with a
    /// response status when `error` is `None`).
    fn failed(
        &self,
        group: &Group,
        i: usize,
        error: Option<&EndpointError>,
        msg: &MessageContext,
        run: &Run,
    ) -> Failed {
        let leaf = match self.node(group.children[i].id) {
            Some(Node::Leaf(leaf)) => Some(leaf.as_ref()),
            _ => None,
        };
        let method = leaf.map_or_else(|| http::request_method(msg), |l| http::method_for(l, msg));
        Failed {
            status: error.is_none(),
            client_fault: error.is_some_and(EndpointError::is_client_fault),
            child_allows: match (leaf, error) {
                (Some(leaf), Some(error)) => leaf.spec.retry.allows(error.code()),
                _ => true,
            },
            reached: error.is_none_or(EndpointError::may_have_reached_backend),
            idempotent: run.idempotency_key || is_idempotent(&method),
            replayable: !matches!(run.replay, Replay::Unavailable(_)) && !grpc_stream_sent(msg),
            deadline_passed: Instant::now() >= run.scope.deadline,
        }
    }
}

// === impl Run ===

impl Run {
    /// Applies the group's properties and keeps what a retry needs: the body, the
    /// request, the deadline, the session.
    async fn begin(
        group: &Group,
        msg: &mut MessageContext,
        limits: &Limits,
        outer: Option<&Scope>,
    ) -> Result<Run, EndpointError> {
        http::apply_endpoint_properties(&group.name, &group.config.properties, msg);
        let replay = Replay::for_group(group, msg, limits).await?;
        let snapshot = (group.needs_snapshot && group.can_retry).then(|| msg.snapshot());
        let started = Instant::now();
        let own = started + group.spec.policy.deadline.unwrap_or(limits.global_timeout);
        let scope = Scope {
            deadline: outer.map_or(own, |o| o.deadline.min(own)),
            path: match outer {
                Some(o) => Arc::from(format!("{}/{}", o.path, group.name)),
                None => group.name.clone(),
            },
        };
        let session = group
            .state
            .sessions
            .as_ref()
            .map(|t| t.lookup(msg, started));
        let pinned = session.as_ref().and_then(|s| s.child);
        let rules = Rules::of(&group.spec);
        Ok(Run {
            replay,
            snapshot,
            scope,
            parent_path: outer.map(|o| o.path.clone()),
            session,
            plan: FailoverPlan::new(group.children.len(), rules, pinned),
            idempotency_key: msg.headers.contains_key(&IDEMPOTENCY_KEY),
            started,
            dirty: false,
            last: None,
        })
    }

    /// Before a try: puts back the request a previous try may have changed.
    fn rewind(&mut self, msg: &mut MessageContext) {
        if self.dirty {
            self.replay.restore(msg);
            if let Some(s) = &self.snapshot {
                msg.restore(s);
            }
        }
        self.dirty = true;
    }
}

/// The child answered for good: the algorithm and the session learn it.
fn accept(
    group: &Group,
    i: usize,
    msg: &mut MessageContext,
    run: &mut Run,
    in_flight: super::group::InFlight,
) {
    group.state.selector.succeeded(i);
    if let (Some(table), Some(request)) = (&group.state.sessions, run.session.take()) {
        table.bind(request, msg, i, Instant::now());
    }
    hold_until_body_done(group, msg, in_flight);
}

/// A gRPC call's request stream is sent once; the gRPC leaf puts it back only when the
/// connection refused it before writing.
fn grpc_stream_sent(msg: &MessageContext) -> bool {
    msg.grpc
        .as_deref()
        .is_some_and(|call| call.request.is_none())
}

/// RFC 9110 §9.2.2: methods whose repetition has the effect of one request.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// A child that did not take the message at all: a leaf that refused admission (another
/// request took its trial slot meanwhile), or a nested group with no ready child.
fn not_tried(error: &EndpointError) -> bool {
    error.kind == ErrorKind::NotReady
        || (error.kind == ErrorKind::NoReadyChild && error.code() == codes::NO_READY_CHILD)
}

fn group_kind(group: &Group) -> &'static str {
    match group.spec.strategy {
        Strategy::Failover { .. } => "failover",
        Strategy::Loadbalance { .. } => "load-balance",
    }
}

/// Nothing could be tried: 303000.
fn no_ready_child(group: &Group) -> EndpointError {
    EndpointError::new(
        ErrorKind::NoReadyChild,
        ProtocolState::RequestReady,
        group.name.clone(),
        format!(
            "{} group `{}` has no ready child",
            group_kind(group),
            group.name
        ),
    )
}

/// Children were tried and none is left: 503, keeping the last child's codes.
fn exhausted(group: &Group, last: &EndpointError) -> EndpointError {
    let which = format!("{} group `{}`", group_kind(group), group.name);
    EndpointError::exhausted(group.name.clone(), which, last)
}

/// The group's deadline passed during a try: 504.
fn deadline_passed(
    group: &Group,
    child: Arc<str>,
    started: Instant,
    scope: &Scope,
) -> EndpointError {
    EndpointError::new(
        ErrorKind::Timeout,
        ProtocolState::RequestDone,
        child.clone(),
        format!(
            "the deadline of group `{}` passed after {} ms, while `{child}` was being tried",
            group.name,
            scope
                .deadline
                .saturating_duration_since(started)
                .as_millis()
        ),
    )
}

/// What remains when a response status made the group fail over and no child was left
/// to try (another worker took the last one meanwhile).
fn status_failover(group: &Group, child: Arc<str>, status: u16) -> EndpointError {
    EndpointError::with_code(
        ErrorKind::NoReadyChild,
        ProtocolState::RequestReady,
        group.name.clone(),
        format!(
            "`{child}` answered {status}, which group `{}` fails over, and no other child was ready",
            group.name
        ),
        codes::NO_READY_CHILD,
    )
}

fn not_retried(msg: &mut MessageContext, via: &Option<Arc<str>>, group: &Group, why: Refusal) {
    crate::base::metrics::global().not_retried(&group.name, why.as_str());
    msg.record_attempt_via(
        via.clone(),
        group.name.clone(),
        AttemptOutcome::NotRetried(why.as_str()),
    );
}

/// The child's own error, saying why it was not retried.
fn refused(
    error: EndpointError,
    why: Refusal,
    replay: &Replay,
    msg: &MessageContext,
    group: &Group,
) -> EndpointError {
    let reason = match why {
        Refusal::RetryDisabled => format!(
            "the code {} is not retried (<retryConfig> of `{}`)",
            error.code(),
            error.endpoint
        ),
        Refusal::NonIdempotent => format!(
            "the {} request may have reached the backend and is not idempotent (see <retryNonIdempotent>)",
            http::request_method(msg)
        ),
        Refusal::NotReplayable => match replay {
            Replay::Unavailable(why) => why.clone(),
            _ if grpc_stream_sent(msg) => {
                "the gRPC request stream was sent and cannot be sent again".into()
            }
            _ => "the request body was not kept".into(),
        },
        Refusal::MaxRetries => format!(
            "group `{}` allows {} retries",
            group.name,
            group.spec.policy.max_retries.unwrap_or(0)
        ),
        Refusal::Deadline => format!("the deadline of group `{}` passed", group.name),
    };
    error.not_retried(reason)
}

/// Least connections counts a request until its response body is done; the others
/// until the response head.
fn hold_until_body_done(
    group: &Group,
    msg: &mut MessageContext,
    in_flight: super::group::InFlight,
) {
    let least = matches!(
        group.spec.strategy,
        Strategy::Loadbalance {
            algorithm: Algorithm::LeastConnections,
            ..
        }
    );
    if !least {
        return;
    }
    if let Body::Stream { stream, length } = msg.body.take() {
        let stream = stream.map(move |chunk| {
            let _held = &in_flight;
            chunk
        });
        msg.body = Body::Stream {
            stream: Box::pin(stream),
            length,
        };
    }
}

// === impl Replay ===

impl Replay {
    /// The body kept for the tries of `group`: none when the group never sends a message
    /// twice (nor needs it for a client-id session).
    async fn for_group(
        group: &Group,
        msg: &mut MessageContext,
        limits: &Limits,
    ) -> Result<Replay, EndpointError> {
        let client_sessions = group
            .state
            .sessions
            .as_ref()
            .is_some_and(|s| s.kind() == crate::config::SessionKind::ClientId);
        if !(group.can_retry || client_sessions) {
            let never = format!("group `{}` never retries", group.name);
            return Ok(Replay::Unavailable(never));
        }
        let limit = if group.spec.build_message {
            limits.max_body
        } else {
            group.spec.policy.replay_buffer
        };
        Replay::prepare(msg, limit, &group.name).await
    }

    /// Keeps the request body for sending again, reading a streamed body of at most
    /// `limit` bytes into memory. A larger one stays a stream (with what was read put
    /// back in front) and is not kept.
    ///
    /// # Errors
    /// When the client's body cannot be read.
    async fn prepare(
        msg: &mut MessageContext,
        limit: usize,
        group: &Arc<str>,
    ) -> Result<Replay, EndpointError> {
        let declared = match &msg.body {
            Body::Empty => return Ok(Replay::Empty),
            Body::Stream { length, .. } => *length,
            Body::Full(_) => None,
        };
        match msg.body.buffer_within(limit).await {
            Ok(Buffered::Whole(bytes)) => Ok(Replay::Full(bytes)),
            Ok(Buffered::Larger(_)) => {
                let size = declared.map_or_else(
                    || "over the limit, streamed".to_owned(),
                    |len| format!("{len} bytes"),
                );
                Ok(Replay::Unavailable(format!(
                    "the request body ({size}) is larger than the replay buffer ({limit} bytes)"
                )))
            }
            Err(error) => Err(EndpointError::new(
                ErrorKind::of_client_body(&error),
                ProtocolState::RequestReady,
                group.clone(),
                format!("reading the client's request body failed: {error}"),
            )),
        }
    }

    /// Puts the kept body back for the next try.
    fn restore(&self, msg: &mut MessageContext) {
        msg.body = match self {
            Replay::Empty => Body::Empty,
            Replay::Full(bytes) => Body::Full(bytes.clone()),
            Replay::Unavailable(_) => return,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::error::PayloadError;
    use actix_web::http::Uri;
    use actix_web::http::header::HeaderMap;

    fn streamed(chunks: Vec<&'static [u8]>, length: Option<u64>) -> MessageContext {
        let stream = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, PayloadError>(Bytes::from_static(c))),
        );
        MessageContext::request(
            Method::POST,
            Uri::from_static("/"),
            "http",
            HeaderMap::new(),
            Body::Stream {
                stream: Box::pin(stream),
                length,
            },
        )
    }

    async fn drain(msg: &mut MessageContext) -> Vec<u8> {
        match msg.body.take() {
            Body::Full(b) => b.to_vec(),
            Body::Empty => Vec::new(),
            Body::Stream { mut stream, .. } => {
                let mut out = Vec::new();
                while let Some(c) = stream.next().await {
                    out.extend_from_slice(&c.unwrap());
                }
                out
            }
        }
    }

    #[actix_rt::test]
    async fn small_bodies_are_kept_and_large_ones_stream_on_intact() {
        let group: Arc<str> = Arc::from("G");
        let mut small = streamed(vec![b"ab", b"cd"], None);
        let replay = Replay::prepare(&mut small, 8, &group).await.unwrap();
        assert!(matches!(&replay, Replay::Full(b) if &b[..] == b"abcd"));
        assert_eq!(drain(&mut small).await, b"abcd");
        replay.restore(&mut small);
        assert_eq!(drain(&mut small).await, b"abcd");

        let mut chunked = streamed(vec![b"abcd", b"efgh", b"ij"], None);
        let replay = Replay::prepare(&mut chunked, 6, &group).await.unwrap();
        assert!(matches!(replay, Replay::Unavailable(_)));
        assert_eq!(drain(&mut chunked).await, b"abcdefghij", "nothing lost");

        let mut declared = streamed(vec![b"abcdefghij"], Some(10));
        let replay = Replay::prepare(&mut declared, 6, &group).await.unwrap();
        assert!(matches!(&replay, Replay::Unavailable(why) if why.contains("10 bytes")));
        assert_eq!(drain(&mut declared).await, b"abcdefghij");
    }

    #[actix_rt::test]
    async fn a_body_cut_short_of_its_declared_length_is_not_kept_as_whole() {
        let group: Arc<str> = Arc::from("G");
        let mut cut = streamed(vec![b"abc"], Some(10));
        let error = Replay::prepare(&mut cut, 64, &group).await.unwrap_err();
        assert_eq!(error.kind, ErrorKind::Downstream);
    }

    #[test]
    fn idempotent_methods_follow_rfc_9110() {
        for m in [Method::GET, Method::PUT, Method::DELETE, Method::HEAD] {
            assert!(is_idempotent(&m), "{m}");
        }
        for m in [Method::POST, Method::PATCH] {
            assert!(!is_idempotent(&m), "{m}");
        }
    }
}
