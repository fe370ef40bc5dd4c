//! Sending one gRPC call to a `<grpc>` leaf's backend, and the standard health check.
//!
//! The call's request stream goes to the backend as it arrives and the response stream
//! comes back untouched (see [`crate::message::grpc`]): HTTP/2 flow control works end to
//! end, and metadata, binary metadata and trailers are carried byte for byte. Failures are
//! classified with the same [`EndpointError`] kinds as HTTP leaves, so suspension, failover
//! and the fronts treat them alike.

mod pool;
mod preface;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Version};
use http_body_util::{BodyExt as _, Full};
use prost::Message as _;
use tokio::time::Instant;

use self::pool::{ConnectError, NoStream, PoolLimits};
use super::Leaf;
use crate::base::error::{Cause, EndpointError, ErrorKind, ProtocolState};
use crate::base::grpc::{self as wire, HealthCheckRequest, HealthCheckResponse, ServingStatus};
use crate::base::limits::Limits;
use crate::config::{GrpcSpec, ResponseAction};
use crate::message::grpc::{
    BackendResponse, GrpcBody, RequestHandle, RequestTap, headers_from_wire, headers_to_wire,
};
use crate::message::{Body, MessageContext};

/// Request headers that are replaced on the way to the backend.
const REPLACED: &[&str] = &["grpc-timeout"];
/// Times a call the backend refused unprocessed (REFUSED_STREAM) is sent again, each time
/// on a connection that did not refuse it.
const REFUSED_RETRIES: usize = 3;

/// Sends the message's gRPC call to `spec`'s backend; on success the message has become
/// the response (its metadata in `headers`, its stream in `msg.grpc`).
///
/// The deadline is the earlier of the client's `grpc-timeout` and the endpoint's
/// `<timeout>`; the backend gets what is left of it as its `grpc-timeout`. With neither,
/// the global timeout bounds the wait for the response headers only, so long-lived streams
/// are not cut.
///
/// # Errors
/// A classified failure: connection failures are [`ErrorKind::ConnectRefused`] or
/// [`ErrorKind::ConnectTimeout`] at [`ProtocolState::RequestReady`] (nothing was sent);
/// a passed deadline is [`ErrorKind::Timeout`], or [`ErrorKind::ClientDeadline`] when it
/// was the client's.
pub(crate) async fn send(
    leaf: &Leaf,
    spec: &GrpcSpec,
    msg: &mut MessageContext,
    limits: &Limits,
) -> Result<(), EndpointError> {
    super::http::apply_properties(leaf, msg);
    let started = Instant::now();
    let path = msg.uri.path().to_owned();
    // Neither failure of taking the request is the backend's: they do not count against it.
    let (body, client_deadline) = take_request(msg).map_err(|why| {
        EndpointError::new(
            ErrorKind::Downstream,
            ProtocolState::RequestReady,
            leaf.name.clone(),
            why.to_owned(),
        )
        .at(call_address(spec, &path))
    })?;
    let clock = CallClock::new(started, client_deadline, leaf, limits);
    let call = Call {
        leaf,
        spec,
        path: &path,
        clock,
    };
    let outcome = match call.head(&msg.headers) {
        Ok(head) => exchange(spec, limits.into(), head, body, clock.deadlines()).await,
        Err(failure) => Err(Failed {
            failure,
            unsent: Some(body),
        }),
    };
    match outcome {
        Ok(exchanged) => {
            become_response(msg, exchanged, clock.deadline);
            Ok(())
        }
        Err(failed) => Err(call.failed(failed, msg)),
    }
}

/// The call's request stream and the client's deadline, or why the message carries no
/// call that can be sent.
fn take_request(msg: &mut MessageContext) -> Result<(GrpcBody, Option<Instant>), &'static str> {
    let Some(call) = msg.grpc.as_deref_mut() else {
        return Err("a <grpc> endpoint carries only the calls of gRPC APIs");
    };
    let Some(body) = call.request.take() else {
        return Err("this gRPC call was already sent: a call's request stream can be sent once");
    };
    Ok((body, call.client_deadline))
}

/// The full address of a call, for failures only (calls that succeed do not build it).
fn call_address(spec: &GrpcSpec, path: &str) -> String {
    format!("{}{path}", spec.uri.trim_end_matches('/'))
}

/// The deadlines of one call.
#[derive(Debug, Clone, Copy)]
struct CallClock {
    started: Instant,
    /// The earlier of the client's and the endpoint's deadline, and whether it is the
    /// client's.
    deadline: Option<(Instant, bool)>,
    /// When the wait for the response headers ends: the deadline, or else the global
    /// timeout.
    wait_until: Instant,
}

impl CallClock {
    fn new(started: Instant, client: Option<Instant>, leaf: &Leaf, limits: &Limits) -> Self {
        let endpoint = leaf.spec.timeout.duration.map(|d| started + d);
        let deadline = match (client, endpoint) {
            (Some(client), Some(endpoint)) if client <= endpoint => Some((client, true)),
            (Some(client), None) => Some((client, true)),
            (_, Some(endpoint)) => Some((endpoint, false)),
            (None, None) => None,
        };
        let wait_until = deadline.map_or(started + limits.global_timeout, |(at, _)| at);
        Self {
            started,
            deadline,
            wait_until,
        }
    }

    fn by_client(&self) -> bool {
        self.deadline.is_some_and(|(_, client)| client)
    }

    /// What [`exchange`] waits for: the end of the wait, and the call's deadline.
    fn deadlines(&self) -> (Instant, Option<Instant>) {
        (self.wait_until, self.deadline.map(|(at, _)| at))
    }
}

/// One call to a leaf's backend: what its head and its failures are made of.
struct Call<'a> {
    leaf: &'a Leaf,
    spec: &'a GrpcSpec,
    path: &'a str,
    clock: CallClock,
}

impl Call<'_> {
    /// The request head for the backend, or why the call cannot start.
    fn head(
        &self,
        client_headers: &actix_web::http::header::HeaderMap,
    ) -> Result<(http::Uri, http::HeaderMap), Failure> {
        let uri = call_uri(self.spec, self.path);
        if self.clock.wait_until <= self.clock.started {
            return Err(Failure::Deadline { connected: false });
        }
        let uri = uri.map_err(Failure::BadPath)?;
        let mut headers = headers_to_wire(client_headers, REPLACED);
        headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
        if let Some((at, _)) = self.clock.deadline {
            headers.insert(
                "grpc-timeout",
                wire::encode_timeout(at.saturating_duration_since(Instant::now())),
            );
        }
        Ok((uri, headers))
    }

    /// The classified failure of the call. Nothing of a call given back `unsent` was
    /// written: it stays sendable (to another leaf of a group, for example), and the error
    /// says nothing reached the backend.
    fn failed(
        &self,
        Failed { failure, unsent }: Failed,
        msg: &mut MessageContext,
    ) -> EndpointError {
        let untouched = unsent.is_some();
        if let (Some(body), Some(call)) = (unsent, msg.grpc.as_deref_mut()) {
            call.request = Some(body);
        }
        match failure {
            Failure::Deadline { connected } => self.timed_out(connected && !untouched),
            // The client's deadline passed while every stream was taken: that is the
            // client's answer, and the backend's stream limit is not its failure.
            Failure::Busy if self.clock.by_client() && Instant::now() >= self.clock.wait_until => {
                self.timed_out(false)
            }
            other => other
                .classify(&self.leaf.name, untouched)
                .at(call_address(self.spec, self.path)),
        }
    }

    /// The failure of a call whose deadline passed, `connected` or not.
    fn timed_out(&self, connected: bool) -> EndpointError {
        let kind = match (self.clock.by_client(), connected) {
            (true, _) => ErrorKind::ClientDeadline,
            (false, true) => ErrorKind::Timeout,
            (false, false) => ErrorKind::ConnectTimeout,
        };
        let state = if connected {
            ProtocolState::RequestDone
        } else {
            ProtocolState::RequestReady
        };
        let whose = match self.clock.deadline {
            Some((_, true)) => "the client's deadline",
            Some((_, false)) => "the endpoint timeout",
            None => "the global timeout",
        };
        let detail = format!(
            "{whose} passed after {} ms without response headers",
            self.clock.started.elapsed().as_millis()
        );
        let name = self.leaf.name.clone();
        let error = if kind == ErrorKind::Timeout {
            let discard = self.leaf.spec.timeout.action == ResponseAction::Discard;
            EndpointError::timeout(state, name, detail, discard)
        } else {
            EndpointError::new(kind, state, name, detail)
        };
        error.at(call_address(self.spec, self.path))
    }
}

/// Turns the message into the backend's response: its metadata in `headers`, its stream
/// in `msg.grpc`.
fn become_response(
    msg: &mut MessageContext,
    (response, tap, lease): Exchanged,
    deadline: Option<(Instant, bool)>,
) {
    let (parts, body) = response.into_parts();
    let body = BackendResponse::new(body, tap, Box::new(lease));
    let status = actix_web::http::StatusCode::from_u16(parts.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    if let Some(call) = msg.grpc.as_deref_mut() {
        call.response = Some(body);
        call.call_deadline = deadline;
    }
    msg.become_response(status, headers_from_wire(&parts.headers), Body::Empty);
}

/// The absolute URI of a call to `path` on `spec`'s backend.
fn call_uri(spec: &GrpcSpec, path: &str) -> Result<http::Uri, BadPath> {
    http::Uri::builder()
        .scheme(if spec.tls { "https" } else { "http" })
        .authority(spec.authority.as_str())
        .path_and_query(format!("{}{path}", spec.path_prefix))
        .build()
        .map_err(|source| BadPath {
            path: path.to_owned(),
            source: Arc::new(source),
        })
}

/// A call path that makes no valid URL with the backend's address.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the call path `{path}` makes no valid URL: {source}")]
struct BadPath {
    /// The call's path.
    path: String,
    /// Why the URL is invalid.
    source: Arc<http::Error>,
}

/// What went wrong in one exchange.
#[derive(Debug)]
enum Failure {
    Connect(Arc<ConnectError>),
    Call(hyper::Error),
    Deadline {
        connected: bool,
    },
    /// No stream was free before the deadline, or the backend refused every attempt.
    Busy,
    BadPath(BadPath),
}

/// A failed exchange, with the request body when none of it was processed.
#[derive(Debug)]
struct Failed {
    failure: Failure,
    unsent: Option<GrpcBody>,
}

/// An answered exchange: the response head and stream, the request stream's handle and
/// the call's place on its connection.
type Exchanged = (
    http::Response<hyper::body::Incoming>,
    RequestHandle,
    pool::Lease,
);

/// Gets a stream and sends the call on it, both before `wait_until`. A call the
/// connection refused before writing anything (it was closing), or that the backend
/// refused unprocessed (REFUSED_STREAM), is sent again on another connection.
async fn exchange(
    spec: &GrpcSpec,
    limits: PoolLimits,
    head: (http::Uri, http::HeaderMap),
    body: GrpcBody,
    (wait_until, call_deadline): (Instant, Option<Instant>),
) -> Result<Exchanged, Failed> {
    let (mut body, mut tap) = RequestTap::wrap(body, call_deadline);
    let mut tries = Tries::default();
    loop {
        let stream = match pool::stream(spec, &limits, wait_until).await {
            Ok(stream) => stream,
            Err(why) => {
                let failure = match why {
                    NoStream::Connect(error) => Failure::Connect(error),
                    NoStream::ConnectDeadline => Failure::Deadline { connected: false },
                    NoStream::Busy => Failure::Busy,
                };
                return Err(Failed {
                    failure,
                    unsent: Some(body),
                });
            }
        };
        let mut sender = stream.sender;
        let request = call_request(&head, body);
        let sending = tokio::time::timeout_at(wait_until, sender.try_send_request(request));
        match sending.await {
            Ok(Ok(response)) => {
                tap.answered();
                return Ok((response, tap, stream.lease));
            }
            Ok(Err(error)) => (body, tap) = tries.again(error, stream.lease, tap)?,
            Err(_) => {
                return Err(Failed {
                    failure: Failure::Deadline { connected: true },
                    unsent: None,
                });
            }
        }
    }
}

/// The attempts of one call that wrote nothing or were not processed.
#[derive(Debug, Default)]
struct Tries {
    closed: usize,
    refused: usize,
}

impl Tries {
    /// The request stream to send again after `error`, or why the call fails.
    fn again(
        &mut self,
        mut error: hyper::client::conn::TrySendError<Request<GrpcBody>>,
        mut lease: pool::Lease,
        tap: RequestHandle,
    ) -> Result<(GrpcBody, RequestHandle), Failed> {
        if let Some(back) = error.take_message() {
            // The connection was closing and wrote nothing: once more, on another.
            lease.retire();
            self.closed += 1;
            if self.closed < 2 {
                return Ok((back.into_body(), tap));
            }
            return Err(Failed {
                failure: Failure::Call(error.into_error()),
                unsent: Some(back.into_body()),
            });
        }
        let error = error.into_error();
        if !is_refused(&error) {
            return Err(Failed {
                failure: Failure::Call(error),
                unsent: None,
            });
        }
        // Nothing was processed: send it again, elsewhere, or give it back whole.
        lease.refused();
        drop(lease);
        self.refused += 1;
        let Some((body, tap)) = tap.resend() else {
            return Err(Failed {
                failure: Failure::Call(error),
                unsent: None,
            });
        };
        if self.refused > REFUSED_RETRIES {
            return Err(Failed {
                failure: Failure::Busy,
                unsent: Some(body),
            });
        }
        Ok((body, tap))
    }
}

/// One attempt's request: a POST of `body` with `head`'s URI and headers.
fn call_request(head: &(http::Uri, http::HeaderMap), body: GrpcBody) -> Request<GrpcBody> {
    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.version_mut() = Version::HTTP_2;
    *request.uri_mut() = head.0.clone();
    *request.headers_mut() = head.1.clone();
    request
}

/// Whether the backend refused the stream before processing it (RFC 9113 §8.7).
fn is_refused(error: &hyper::Error) -> bool {
    find_source::<h2::Error>(error).and_then(h2::Error::reason) == Some(h2::Reason::REFUSED_STREAM)
}

impl Failure {
    /// The classified failure; `untouched` when nothing of the call was written, which
    /// makes its protocol state (and so its code) the one before sending.
    fn classify(self, endpoint: &Arc<str>, untouched: bool) -> EndpointError {
        let (kind, state) = match &self {
            Failure::Connect(error) => match error.as_ref() {
                ConnectError::Timeout(_) => {
                    (ErrorKind::ConnectTimeout, ProtocolState::RequestReady)
                }
                ConnectError::Refused(..) | ConnectError::Tls(..) => {
                    (ErrorKind::ConnectRefused, ProtocolState::RequestReady)
                }
                // Only the connection preface was sent, never the call.
                ConnectError::Handshake(..) | ConnectError::NoSettings(_) => {
                    (ErrorKind::Protocol, ProtocolState::RequestReady)
                }
            },
            Failure::Call(error) => classify_call(error),
            Failure::Deadline { connected: false } => {
                (ErrorKind::ConnectTimeout, ProtocolState::RequestReady)
            }
            Failure::Deadline { connected: true } => {
                (ErrorKind::Timeout, ProtocolState::RequestDone)
            }
            Failure::Busy => (ErrorKind::Busy, ProtocolState::RequestReady),
            Failure::BadPath(_) => (ErrorKind::InvalidAddress, ProtocolState::RequestReady),
        };
        let state = if untouched {
            ProtocolState::RequestReady
        } else {
            state
        };
        let cause = match self {
            Failure::Connect(error) => Cause::error(error.to_string(), error),
            Failure::Call(error) => Cause::error(chain(&error), error),
            Failure::Deadline { .. } => "the deadline passed".into(),
            Failure::Busy => "every connection to the backend was at its stream limit, or \
                              the backend refused the stream unprocessed"
                .into(),
            Failure::BadPath(bad) => Cause::error(bad.to_string(), bad),
        };
        EndpointError::new(kind, state, endpoint.clone(), cause)
    }
}

/// Classifies a failed call by hyper's and h2's typed errors.
fn classify_call(error: &hyper::Error) -> (ErrorKind, ProtocolState) {
    let h2 = find_source::<h2::Error>(error);
    if is_refused(error) {
        // The backend refused the stream before processing it (RFC 9113 §8.7): it is
        // busy, not broken.
        return (ErrorKind::Busy, ProtocolState::RequestReady);
    }
    if error.is_user() || error.is_body_write_aborted() {
        // The client's own request stream failed (it went away or reset the call).
        return (ErrorKind::Downstream, ProtocolState::RequestBody);
    }
    if error.is_timeout() {
        return (ErrorKind::Timeout, ProtocolState::RequestDone);
    }
    if error.is_parse() {
        return (ErrorKind::Protocol, ProtocolState::ResponseHead);
    }
    if h2.is_some_and(|h2| h2.is_go_away() || h2.is_reset())
        || error.is_canceled()
        || error.is_closed()
    {
        return (ErrorKind::Closed, ProtocolState::RequestDone);
    }
    if find_source::<std::io::Error>(error).is_some() {
        return (ErrorKind::ReceiveIo, ProtocolState::RequestDone);
    }
    (ErrorKind::Closed, ProtocolState::RequestDone)
}

fn find_source<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(found) = cause.downcast_ref::<T>() {
            return Some(found);
        }
        current = cause.source();
    }
    None
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        current = cause.source();
    }
    out
}

/// One standard health check (`grpc.health.v1.Health/Check`) of `spec`'s backend, within
/// `timeout`, about `service` (empty: the server as a whole), on this thread's connection
/// to it.
///
/// # Errors
/// The classified failure; a backend that answers anything but SERVING (or a gRPC error
/// status) fails with [`ErrorKind::Unhealthy`].
pub(crate) async fn check_health(
    spec: &GrpcSpec,
    service: &str,
    timeout: Duration,
    endpoint: &Arc<str>,
    tls: &Arc<crate::base::tls::BackendTls>,
) -> Result<(), EndpointError> {
    let address = format!(
        "{}{}",
        spec.uri.trim_end_matches('/'),
        wire::HEALTH_CHECK_PATH
    );
    let (head, body) = health_request(spec, service, timeout).map_err(|bad| {
        EndpointError::new(
            ErrorKind::InvalidAddress,
            ProtocolState::RequestReady,
            endpoint.clone(),
            Cause::error(bad.to_string(), bad),
        )
    })?;
    let unhealthy = |detail: String| {
        EndpointError::new(
            ErrorKind::Unhealthy,
            ProtocolState::ResponseBody,
            endpoint.clone(),
            detail,
        )
        .at(address.clone())
    };
    let no_answer =
        || EndpointError::health_check_timeout(endpoint.clone(), timeout).at(address.clone());
    let probe = async {
        let deadline = Instant::now() + timeout;
        let limits = PoolLimits {
            tls: tls.clone(),
            ..PoolLimits::from(&Limits::default())
        };
        let (response, _tap, _lease) = exchange(spec, limits, head, body, (deadline, None))
            .await
            .map_err(|failed| failed.failure)?;
        let (parts, body) = response.into_parts();
        let collected = body.collect().await.map_err(Failure::Call);
        Ok::<_, Failure>((parts, collected))
    };
    let (parts, collected) = match tokio::time::timeout(timeout, probe).await {
        Err(_) => return Err(no_answer()),
        Ok(Err(Failure::Deadline { .. })) => return Err(no_answer()),
        Ok(Err(failure)) => return Err(failure.classify(endpoint, false).at(address)),
        Ok(Ok(answer)) => answer,
    };
    if parts.status != http::StatusCode::OK {
        return Err(unhealthy(format!(
            "the health check was answered with HTTP {}",
            parts.status
        )));
    }
    let collected =
        collected.map_err(|failure| failure.classify(endpoint, false).at(address.clone()))?;
    health_verdict(&parts.headers, collected, service, &unhealthy)
}

/// The head and body of a health check call about `service`, within `timeout`.
fn health_request(
    spec: &GrpcSpec,
    service: &str,
    timeout: Duration,
) -> Result<((http::Uri, http::HeaderMap), GrpcBody), BadPath> {
    let payload = HealthCheckRequest {
        service: service.to_owned(),
    }
    .encode_to_vec();
    let uri = call_uri(spec, wire::HEALTH_CHECK_PATH)?;
    let body = Full::new(wire::frame(&payload))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut headers = http::HeaderMap::with_capacity(4);
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    headers.insert(
        http::header::USER_AGENT,
        HeaderValue::from_static("axon-health-check"),
    );
    headers.insert("grpc-timeout", wire::encode_timeout(timeout));
    Ok(((uri, headers), body))
}

/// Whether a health check's answer (its `headers` and `collected` stream) says the
/// backend serves `service`; otherwise the `unhealthy` failure saying why not.
fn health_verdict(
    headers: &http::HeaderMap,
    collected: http_body_util::Collected<bytes::Bytes>,
    service: &str,
    unhealthy: &dyn Fn(String) -> EndpointError,
) -> Result<(), EndpointError> {
    // A trailers-only answer carries its status in the headers.
    let status_map = collected.trailers().unwrap_or(headers);
    let grpc_status = status_map
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    match grpc_status {
        Some(wire::code::OK) => {}
        Some(code) => {
            let message = status_map
                .get("grpc-message")
                .map(wire::decode_message)
                .unwrap_or_default();
            return Err(unhealthy(format!(
                "the health check failed with {code} ({}): {message}",
                wire::code_name(code)
            )));
        }
        None => {
            return Err(unhealthy(
                "the health check answer had no grpc-status".into(),
            ));
        }
    }
    let bytes = collected.to_bytes();
    let serving = wire::first_message(&bytes)
        .and_then(|m| HealthCheckResponse::decode(m).ok())
        .map(|r| ServingStatus::from_number(r.status));
    match serving {
        Some(ServingStatus::Serving) => Ok(()),
        Some(other) => Err(unhealthy(format!(
            "the health check answered {} for service `{}`",
            other.as_str(),
            service
        ))),
        None => Err(unhealthy(
            "the health check answer was not a HealthCheckResponse".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn spec_for(port: u16) -> GrpcSpec {
        GrpcSpec {
            uri: format!("http://127.0.0.1:{port}"),
            tls: false,
            authority: format!("127.0.0.1:{port}"),
            host: "127.0.0.1".into(),
            path_prefix: String::new(),
            trusted: Vec::new(),
            any_host: false,
        }
    }

    #[tokio::test]
    async fn a_refused_connection_gives_the_untouched_request_back() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let spec = spec_for(port);
        let body = Full::new(Bytes::from_static(b"the call"))
            .map_err(|never| match never {})
            .boxed_unsync();
        let head = (
            call_uri(&spec, "/a.B/C").unwrap_or_default(),
            http::HeaderMap::new(),
        );
        let limits = PoolLimits::from(&Limits::default());
        let deadline = Instant::now() + Duration::from_secs(5);
        let failed = exchange(&spec, limits, head, body, (deadline, None))
            .await
            .err()
            .unwrap_or_else(|| panic!("nothing listens on {port}"));
        let error = failed.failure.classify(&Arc::from("ep"), false);
        assert_eq!(
            (error.kind, error.state),
            (ErrorKind::ConnectRefused, ProtocolState::RequestReady)
        );
        assert!(!error.may_have_reached_backend());
        let body = failed.unsent.unwrap_or_else(|| panic!("the body was lost"));
        let bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        assert_eq!(
            &bytes[..],
            b"the call",
            "the request can go to another leaf"
        );
    }
}
