//! Endpoint failures as classified data, and the one table that maps them to Synapse error
//! codes, to the suspension decision and to what each front answers.
//!
//! Everything that reacts to a failure (the health state machine, group failover, the HTTP
//! front's status code, the fault sequence's `ERROR_CODE`) reads the classification below;
//! nothing parses error strings.

use std::fmt;
use std::sync::Arc;

use actix_web::http::StatusCode;

use super::cause::{BodyError, is_body_timeout, malformed_cause};

/// Synapse error codes (reference §2.5).
pub(crate) mod codes {
    /// Sender I/O error while sending (base; plus the protocol state).
    pub(crate) const SND_IO_ERROR: u32 = 101_500;
    /// Sender I/O error while receiving (base; plus the protocol state).
    pub(crate) const SND_IO_ERROR_RECEIVING: u32 = 101_501;
    /// Connection refused or failed.
    pub(crate) const CONNECTION_FAILED: u32 = 101_503;
    /// Endpoint "Send timeout" (and the socket idle timeout base).
    pub(crate) const CONNECTION_TIMEOUT: u32 = 101_504;
    /// The backend closed the connection mid-exchange (base).
    pub(crate) const CONNECTION_CLOSED: u32 = 101_505;
    /// HTTP protocol violation (base).
    pub(crate) const PROTOCOL_VIOLATION: u32 = 101_506;
    /// Timeout while establishing a new connection.
    pub(crate) const CONNECT_TIMEOUT: u32 = 101_508;
    /// Group with no ready child, or a retry refused for the error code.
    pub(crate) const NO_READY_CHILD: u32 = 303_000;
    /// Address/HTTP leaf used as the root endpoint is not ready.
    pub(crate) const LEAF_NOT_READY: u32 = 303_001;
    /// WSDL leaf used as the root endpoint is not ready.
    pub(crate) const WSDL_NOT_READY: u32 = 303_002;
    /// A SOAP fault counted as a failure because of `FORCE_ERROR_ON_SOAP_FAULT`.
    pub(crate) const SOAP_FAULT_AS_ERROR: u32 = 500_000;
    /// A mediator failed and no code was set.
    pub(crate) const MEDIATION_ERROR: u32 = 0;
    /// A malformed XML/JSON message was received.
    pub(crate) const MALFORMED_MESSAGE: u32 = 601_000;
    /// Axon: an active health check (`grpc.health.v1.Health/Check`) did not answer
    /// SERVING. Synapse has no active checks, so it has no code for this.
    pub(crate) const HEALTH_CHECK_FAILED: u32 = 101_600;
    /// Axon: the drain of a graceful stop ended before the exchange did (503).
    pub(crate) const SHUTTING_DOWN: u32 = 101_700;
    /// Axon: no stream to a gRPC backend was free (every connection Axon may open to it
    /// was at its concurrent-stream limit until the deadline, or the backend refused the
    /// stream unprocessed). Nothing was sent.
    pub(crate) const NO_FREE_STREAM: u32 = 101_601;
}

/// How far the exchange with the backend had gone when it failed (Synapse's `ProtocolState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProtocolState {
    /// Before the request was written (connect phase).
    RequestReady = 0,
    /// Writing the request head.
    #[allow(
        dead_code,
        reason = "Synapse's numbering of protocol states; no failure is classified here yet"
    )]
    RequestHead = 1,
    /// Writing the request body.
    RequestBody = 2,
    /// The request was sent; waiting for the response.
    RequestDone = 3,
    /// Reading the response head.
    ResponseHead = 4,
    /// Reading the response body.
    ResponseBody = 5,
}

/// What went wrong, independent of wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The TCP connection was refused or could not be made (also an unknown host).
    ConnectRefused,
    /// Establishing the connection (TCP or TLS) took too long.
    ConnectTimeout,
    /// I/O failed while writing the request.
    SendIo,
    /// I/O failed while reading the response.
    ReceiveIo,
    /// The backend closed the connection before the exchange completed.
    Closed,
    /// The backend's response was not valid HTTP.
    Protocol,
    /// The per-message endpoint deadline passed.
    Timeout,
    /// The endpoint (a root leaf) is SUSPENDED, in TIMEOUT before its retry time, or OFF.
    NotReady,
    /// A group had no ready child (or refused to retry).
    NoReadyChild,
    /// The backend answered with a SOAP fault and `FORCE_ERROR_ON_SOAP_FAULT` was set.
    SoapFault,
    /// The computed backend address is not a valid URL.
    InvalidAddress,
    /// The client's request could not be forwarded (its body failed or was too large).
    Downstream,
    /// The client's request is not what it claims to be (a malformed SOAP envelope, JSON
    /// that does not parse, a body that cannot be converted to the endpoint's format).
    MalformedRequest,
    /// The client's request body is larger than `--max-body-bytes` where it had to be
    /// read (a format conversion): 413, the client's fault.
    RequestTooLarge,
    /// The client's own deadline (gRPC `grpc-timeout`) passed before the backend answered.
    /// It says nothing about the backend, so it does not count against the endpoint.
    ClientDeadline,
    /// An active health check found the backend not serving.
    Unhealthy,
    /// No stream to the backend was free (its concurrent-stream limit, or Axon's cap on
    /// connections to it), or the backend refused the stream unprocessed (REFUSED_STREAM).
    /// Nothing was sent, and a busy backend is not a failed one: it does not count.
    Busy,
    /// The client stopped sending its request body: the body read timeout passed, or the
    /// endpoint's deadline passed while Axon still waited for the client's bytes (408).
    ClientTimeout,
}

impl ErrorKind {
    /// The kind of a failure to read the client's request body: its stall (the body read
    /// timeout) or any other failure of its own.
    pub(crate) fn of_client_body(error: &BodyError) -> ErrorKind {
        if error.is_timeout() {
            ErrorKind::ClientTimeout
        } else {
            ErrorKind::Downstream
        }
    }
}

/// Why an endpoint failed: Axon's own words, or the error from below (io, awc, hyper, h2)
/// kept as the source. Its `Display` is the detail of logs and `ERROR_DETAIL`.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Cause {
    /// Axon's own account: a state, a deadline, a refusal, a status.
    #[error("{0}")]
    Said(String),
    /// An error from below (io, awc, hyper, h2, http), kept as the source; `text` is how
    /// it reads in the log (the error, or its chain).
    #[error("{text}")]
    Error {
        /// The error as it reads in the log.
        text: String,
        /// The underlying error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// A group tried children and none is left; the last child's failure is the source.
    #[error(
        "{group} has no other ready child; the last one tried, `{}`, failed with {}: {}",
        last.endpoint,
        last.code,
        last.cause
    )]
    Exhausted {
        /// The group, as "failover group `name`".
        group: String,
        /// The last child's failure.
        #[source]
        last: Box<EndpointError>,
    },
    /// A child's failure that its group did not send to another child, and why.
    #[error("{cause}; not sent to another child: {reason}")]
    NotRetried {
        /// The child's own cause.
        #[source]
        cause: Box<Cause>,
        /// Why it was not retried.
        reason: String,
    },
}

impl Cause {
    /// The error `source`, read as `text`.
    pub(crate) fn error(
        text: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Cause {
        Cause::Error {
            text: text.into(),
            source: Arc::new(source),
        }
    }
}

impl From<String> for Cause {
    fn from(text: String) -> Cause {
        Cause::Said(text)
    }
}

impl From<&str> for Cause {
    fn from(text: &str) -> Cause {
        Cause::Said(text.to_owned())
    }
}

/// A classified endpoint failure. Its Synapse codes are decided when it is made (by
/// [`EndpointError::new`] from the kind and state, or by the constructors of the codes a
/// kind alone does not tell) and never change afterwards.
#[derive(Debug, Clone)]
pub(crate) struct EndpointError {
    /// What went wrong.
    pub(crate) kind: ErrorKind,
    /// How far the exchange had gone.
    pub(crate) state: ProtocolState,
    /// The leaf (or group) that failed.
    pub(crate) endpoint: Arc<str>,
    /// The resolved backend address, when there was one.
    pub(crate) address: Option<String>,
    /// The underlying cause, for logs and `ERROR_DETAIL`.
    pub(crate) cause: Cause,
    /// Synapse's `ERROR_CODE`.
    code: u32,
    /// Synapse's `BASE_ERROR_CODE`.
    base_code: u32,
    /// An endpoint timeout whose `responseAction` is `discard`: the user's fault sequence
    /// is skipped and Axon's built-in reply answers.
    discard: bool,
}

// === impl EndpointError ===

impl EndpointError {
    /// A new error of `kind` at `state`, with the codes the classification gives them.
    pub(crate) fn new(
        kind: ErrorKind,
        state: ProtocolState,
        endpoint: Arc<str>,
        cause: impl Into<Cause>,
    ) -> Self {
        let code = code_of(kind, state);
        EndpointError {
            kind,
            state,
            endpoint,
            address: None,
            cause: cause.into(),
            code,
            base_code: base_code_of(kind, code),
            discard: false,
        }
    }

    /// A failure whose code the kind alone does not tell: a root leaf not ready (303001,
    /// 303002 for a WSDL leaf), a group that reports 303000 whatever it was.
    pub(crate) fn with_code(
        kind: ErrorKind,
        state: ProtocolState,
        endpoint: Arc<str>,
        cause: impl Into<Cause>,
        code: u32,
    ) -> Self {
        EndpointError {
            code,
            base_code: code,
            ..EndpointError::new(kind, state, endpoint, cause)
        }
    }

    /// Group `group` (`"failover group `name`"`) tried children and none is left: 503,
    /// keeping the last child's codes, which Synapse reports (§0.4).
    pub(crate) fn exhausted(endpoint: Arc<str>, group: String, last: &EndpointError) -> Self {
        EndpointError {
            kind: ErrorKind::NoReadyChild,
            state: last.state,
            endpoint,
            address: last.address.clone(),
            code: last.code,
            base_code: last.base_code,
            discard: false,
            cause: Cause::Exhausted {
                group,
                last: Box::new(last.clone()),
            },
        }
    }

    /// This error, with the reason its group did not send it to another child.
    pub(crate) fn not_retried(mut self, reason: String) -> Self {
        self.cause = Cause::NotRetried {
            cause: Box::new(self.cause),
            reason,
        };
        self
    }

    /// An endpoint timeout (at `state`) after which `responseAction` `discard` skips the
    /// user's fault sequence when `discard` is true.
    pub(crate) fn timeout(
        state: ProtocolState,
        endpoint: Arc<str>,
        cause: impl Into<Cause>,
        discard: bool,
    ) -> Self {
        EndpointError {
            discard,
            ..EndpointError::new(ErrorKind::Timeout, state, endpoint, cause)
        }
    }

    /// Whether this is an endpoint timeout whose `responseAction` is `discard`.
    pub(crate) fn discards(&self) -> bool {
        self.kind == ErrorKind::Timeout && self.discard
    }

    /// An active health check that got no answer within `timeout` (101504).
    pub(crate) fn health_check_timeout(endpoint: Arc<str>, timeout: std::time::Duration) -> Self {
        EndpointError::new(
            ErrorKind::Timeout,
            ProtocolState::RequestDone,
            endpoint,
            format!(
                "the health check got no answer within {} ms",
                timeout.as_millis()
            ),
        )
    }

    /// The endpoint's deadline passed while Axon still waited for the client's request
    /// body (see [`crate::message::body::ClientSide`]): the client's failure.
    pub(crate) fn client_stalled(endpoint: Arc<str>, deadline: std::time::Duration) -> Self {
        EndpointError::new(
            ErrorKind::ClientTimeout,
            ProtocolState::RequestBody,
            endpoint,
            format!(
                "the client's request body was still incomplete after {} ms",
                deadline.as_millis()
            ),
        )
    }

    /// Sets the resolved backend address.
    pub(crate) fn at(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Synapse's `ERROR_CODE`: base code plus protocol state for transport errors (§2.5).
    pub(crate) fn code(&self) -> u32 {
        self.code
    }

    /// Synapse's `BASE_ERROR_CODE`: the code without the protocol state.
    pub(crate) fn base_code(&self) -> u32 {
        self.base_code
    }

    /// Synapse's `ERROR_MESSAGE` wording for this kind of failure.
    pub(crate) fn message(&self) -> String {
        match self.kind {
            ErrorKind::ConnectRefused | ErrorKind::InvalidAddress => {
                "Error connecting to the back end".into()
            }
            ErrorKind::ConnectTimeout => "Timeout while connecting to the back end".into(),
            ErrorKind::SendIo | ErrorKind::ReceiveIo | ErrorKind::Closed | ErrorKind::Protocol => {
                "Error in Sender".into()
            }
            ErrorKind::Timeout => "Send timeout".into(),
            ErrorKind::NotReady | ErrorKind::NoReadyChild => self.cause.to_string(),
            ErrorKind::SoapFault => "SOAP fault received from the back end".into(),
            ErrorKind::Downstream => "Error reading the client request".into(),
            ErrorKind::MalformedRequest => "Malformed message received".into(),
            ErrorKind::RequestTooLarge => "The request body is too large".into(),
            ErrorKind::ClientDeadline => "Client deadline exceeded".into(),
            ErrorKind::Unhealthy => "Health check failed".into(),
            ErrorKind::ClientTimeout => "Timeout while reading the client request".into(),
            ErrorKind::Busy => "No free stream to the back end".into(),
        }
    }

    /// Whether this failure says something about the backend's health. Failures of the
    /// client's own request, and refusals made before anything was sent, do not.
    pub(crate) fn counts_against_endpoint(&self) -> bool {
        !self.is_client_fault()
            && !matches!(
                self.kind,
                ErrorKind::NotReady | ErrorKind::NoReadyChild | ErrorKind::Busy
            )
    }

    /// Whether the client's own request (its body, its content, its deadline) failed: any
    /// other endpoint would fail alike, so a group does not try another child.
    pub(crate) fn is_client_fault(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Downstream
                | ErrorKind::MalformedRequest
                | ErrorKind::ClientDeadline
                | ErrorKind::ClientTimeout
                | ErrorKind::RequestTooLarge
        )
    }

    /// The detail a client may be shown: Axon's own words about the client's request or an
    /// endpoint's state, or the reason of the SOAP fault the backend answered with. A transport failure's detail (OS error text, the backend's
    /// address, a child's failure inside a group's) stays in the log and the health API.
    pub(crate) fn public_detail(&self) -> Option<&Cause> {
        match self.kind {
            ErrorKind::NotReady
            | ErrorKind::MalformedRequest
            | ErrorKind::ClientDeadline
            | ErrorKind::ClientTimeout
            | ErrorKind::SoapFault
            | ErrorKind::Timeout => Some(&self.cause),
            ErrorKind::NoReadyChild if self.address.is_none() => Some(&self.cause),
            _ => None,
        }
    }

    /// Whether any byte of the request may have reached the backend. Failover of a
    /// non-idempotent request is only safe when this is false.
    pub(crate) fn may_have_reached_backend(&self) -> bool {
        match self.kind {
            ErrorKind::ConnectRefused
            | ErrorKind::ConnectTimeout
            | ErrorKind::InvalidAddress
            | ErrorKind::NotReady
            | ErrorKind::NoReadyChild
            | ErrorKind::Busy => false,
            _ => self.state != ProtocolState::RequestReady,
        }
    }

    /// The HTTP status Axon's built-in fault handling answers with.
    pub(crate) fn http_status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::Timeout | ErrorKind::ConnectTimeout | ErrorKind::ClientDeadline => {
                StatusCode::GATEWAY_TIMEOUT
            }
            ErrorKind::NotReady
            | ErrorKind::NoReadyChild
            | ErrorKind::Unhealthy
            | ErrorKind::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Downstream | ErrorKind::MalformedRequest => StatusCode::BAD_REQUEST,
            ErrorKind::ClientTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorKind::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "endpoint `{}` failed with {}: {}",
            self.endpoint, self.code, self.cause
        )?;
        if let Some(address) = &self.address {
            write!(f, " ({address})")?;
        }
        Ok(())
    }
}

/// The chain goes on from the cause (its text is already in `Display`).
impl std::error::Error for EndpointError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.cause)
    }
}

/// Synapse's `ERROR_CODE` of `kind` at `state`: base code plus protocol state for
/// transport errors (§2.5).
fn code_of(kind: ErrorKind, state: ProtocolState) -> u32 {
    let ordinal = state as u32;
    match kind {
        ErrorKind::ConnectRefused => codes::CONNECTION_FAILED,
        ErrorKind::ConnectTimeout => codes::CONNECT_TIMEOUT,
        ErrorKind::Timeout => codes::CONNECTION_TIMEOUT,
        ErrorKind::SendIo => codes::SND_IO_ERROR + ordinal,
        ErrorKind::ReceiveIo => codes::SND_IO_ERROR_RECEIVING + ordinal,
        ErrorKind::Closed => codes::CONNECTION_CLOSED + ordinal,
        ErrorKind::Protocol => codes::PROTOCOL_VIOLATION + ordinal,
        ErrorKind::NotReady => codes::LEAF_NOT_READY,
        ErrorKind::NoReadyChild => codes::NO_READY_CHILD,
        ErrorKind::SoapFault => codes::SOAP_FAULT_AS_ERROR,
        ErrorKind::InvalidAddress => codes::CONNECTION_FAILED,
        ErrorKind::Downstream | ErrorKind::ClientTimeout => codes::SND_IO_ERROR + ordinal,
        ErrorKind::MalformedRequest => codes::MALFORMED_MESSAGE,
        ErrorKind::RequestTooLarge => codes::MEDIATION_ERROR,
        ErrorKind::ClientDeadline => codes::CONNECTION_TIMEOUT,
        ErrorKind::Unhealthy => codes::HEALTH_CHECK_FAILED,
        ErrorKind::Busy => codes::NO_FREE_STREAM,
    }
}

/// Synapse's `BASE_ERROR_CODE` of `kind` whose `ERROR_CODE` is `code`.
fn base_code_of(kind: ErrorKind, code: u32) -> u32 {
    match kind {
        ErrorKind::SendIo | ErrorKind::Downstream => codes::SND_IO_ERROR,
        ErrorKind::ReceiveIo => codes::SND_IO_ERROR_RECEIVING,
        ErrorKind::Closed => codes::CONNECTION_CLOSED,
        ErrorKind::Protocol => codes::PROTOCOL_VIOLATION,
        _ => code,
    }
}

/// Maps an awc send error to a classified failure, keeping the io, h2 or parse error
/// under it as the source.
pub(crate) fn classify_send_error(
    error: awc::error::SendRequestError,
    endpoint: &Arc<str>,
) -> EndpointError {
    use awc::error::{ConnectError, SendRequestError as S};
    let (kind, state) = match &error {
        S::Url(_) => (ErrorKind::InvalidAddress, ProtocolState::RequestReady),
        S::Connect(ConnectError::Timeout) => {
            (ErrorKind::ConnectTimeout, ProtocolState::RequestReady)
        }
        // awc reports a connection that ended before the response head as `Disconnected`,
        // AFTER the request was written (awc's h1proto.rs; its only other use, an `Expect`
        // without a body, cannot happen: `Expect` is never forwarded). So the request may
        // have reached the backend: this is a closed connection, not a failed connect.
        S::Connect(ConnectError::Disconnected) => {
            return EndpointError::new(
                ErrorKind::Closed,
                ProtocolState::RequestDone,
                endpoint.clone(),
                "the backend closed the connection after the request was sent, without answering",
            );
        }
        // Every other connect error comes from establishing the connection (DNS, TCP, the
        // TLS handshake, the HTTP/2 handshake): nothing of the request was written.
        S::Connect(_) => (ErrorKind::ConnectRefused, ProtocolState::RequestReady),
        S::Send(_) => (ErrorKind::SendIo, ProtocolState::RequestBody),
        S::Body(cause) => {
            if let Some(m) = malformed_cause(cause.as_ref()) {
                return EndpointError::new(
                    ErrorKind::MalformedRequest,
                    ProtocolState::RequestBody,
                    endpoint.clone(),
                    m.0.clone(),
                );
            }
            if is_body_timeout(cause.as_ref()) {
                (ErrorKind::ClientTimeout, ProtocolState::RequestBody)
            } else {
                (ErrorKind::Downstream, ProtocolState::RequestBody)
            }
        }
        S::Response(
            actix_web::error::ParseError::Io(_) | actix_web::error::ParseError::Incomplete,
        ) => (ErrorKind::Closed, ProtocolState::RequestDone),
        S::Response(_) => (ErrorKind::Protocol, ProtocolState::ResponseHead),
        S::H2(_) => (ErrorKind::Closed, ProtocolState::RequestDone),
        S::Timeout => (ErrorKind::Timeout, ProtocolState::RequestDone),
        S::Http(_) | S::TunnelNotSupported => (ErrorKind::Protocol, ProtocolState::RequestReady),
        _ => (ErrorKind::SendIo, ProtocolState::RequestDone),
    };
    let text = error.to_string();
    let cause = match error {
        S::Send(io) | S::Connect(ConnectError::Io(io)) => Cause::error(text, io),
        S::Response(parse) => Cause::error(text, parse),
        S::H2(h2) => Cause::error(text, h2),
        _ => Cause::Said(text),
    };
    EndpointError::new(kind, state, endpoint.clone(), cause)
}

#[cfg(test)]
impl EndpointError {
    /// The gRPC status the gRPC front answers with: the gRPC specification's mapping of
    /// [`EndpointError::http_status`] (timeouts give DEADLINE_EXCEEDED, connection failures
    /// and "not ready" give UNAVAILABLE).
    pub(crate) fn grpc_code(&self) -> u32 {
        super::grpc::code_for_http(self.http_status().as_u16())
    }
}

#[cfg(test)]
mod tests;
