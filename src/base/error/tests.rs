use super::*;

fn err(kind: ErrorKind, state: ProtocolState) -> EndpointError {
    EndpointError::new(kind, state, Arc::from("ep"), "x")
}

#[test]
fn transport_codes_are_base_plus_protocol_state() {
    assert_eq!(
        err(ErrorKind::ConnectRefused, ProtocolState::RequestReady).code(),
        101_503
    );
    assert_eq!(
        err(ErrorKind::Closed, ProtocolState::RequestDone).code(),
        101_508
    );
    assert_eq!(
        err(ErrorKind::Closed, ProtocolState::RequestDone).base_code(),
        101_505
    );
    assert_eq!(
        err(ErrorKind::Closed, ProtocolState::ResponseBody).code(),
        101_510
    );
    assert_eq!(
        err(ErrorKind::SendIo, ProtocolState::RequestBody).code(),
        101_502
    );
    assert_eq!(
        err(ErrorKind::Timeout, ProtocolState::RequestDone).code(),
        101_504
    );
    assert_eq!(
        err(ErrorKind::ConnectTimeout, ProtocolState::RequestReady).code(),
        101_508
    );
    assert_eq!(
        err(ErrorKind::NotReady, ProtocolState::RequestReady).code(),
        303_001
    );
    let child = err(ErrorKind::ConnectRefused, ProtocolState::RequestReady);
    let kept = EndpointError::exhausted(Arc::from("g"), "failover group `g`".into(), &child);
    assert_eq!((kept.code(), kept.base_code()), (101_503, 101_503));
    assert_eq!(
        kept.cause.to_string(),
        "failover group `g` has no other ready child; the last one tried, `ep`, failed with 101503: x"
    );
}

#[test]
fn a_connection_dropped_after_the_request_was_written_may_have_reached_the_backend() {
    use awc::error::{ConnectError, SendRequestError as S};
    let ep: Arc<str> = Arc::from("ep");
    let dropped = classify_send_error(S::Connect(ConnectError::Disconnected), &ep);
    assert_eq!((dropped.kind, dropped.code()), (ErrorKind::Closed, 101_508));
    assert!(dropped.may_have_reached_backend());
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    let refused = classify_send_error(S::Connect(ConnectError::Io(refused)), &ep);
    assert_eq!(refused.code(), 101_503);
    // The io error is kept as the source, under the text the log shows.
    let source = std::error::Error::source(&refused).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("connection refused"));
    assert!(!refused.may_have_reached_backend());
}

#[test]
fn statuses_and_retry_facts() {
    assert_eq!(
        err(ErrorKind::Timeout, ProtocolState::RequestDone).http_status(),
        504
    );
    assert_eq!(
        err(ErrorKind::ConnectRefused, ProtocolState::RequestReady).http_status(),
        502
    );
    assert_eq!(
        err(ErrorKind::NotReady, ProtocolState::RequestReady).http_status(),
        503
    );
    assert!(
        !err(ErrorKind::ConnectRefused, ProtocolState::RequestReady).may_have_reached_backend()
    );
    assert!(err(ErrorKind::Closed, ProtocolState::RequestDone).may_have_reached_backend());
    assert!(!err(ErrorKind::Downstream, ProtocolState::RequestBody).counts_against_endpoint());
    assert!(err(ErrorKind::Timeout, ProtocolState::RequestDone).counts_against_endpoint());
    // The client's own deadline before anything was sent: no other child would do
    // better, and the backend is not to blame.
    let deadline = err(ErrorKind::ClientDeadline, ProtocolState::RequestReady);
    assert!(deadline.is_client_fault() && !deadline.counts_against_endpoint());
    assert!(!err(ErrorKind::ConnectRefused, ProtocolState::RequestReady).is_client_fault());
}

#[test]
fn grpc_codes_follow_the_classification() {
    use crate::base::grpc::code;
    for (kind, state, expected) in [
        (
            ErrorKind::Timeout,
            ProtocolState::RequestDone,
            code::DEADLINE_EXCEEDED,
        ),
        (
            ErrorKind::ClientDeadline,
            ProtocolState::RequestDone,
            code::DEADLINE_EXCEEDED,
        ),
        (
            ErrorKind::ConnectTimeout,
            ProtocolState::RequestReady,
            code::DEADLINE_EXCEEDED,
        ),
        (
            ErrorKind::ConnectRefused,
            ProtocolState::RequestReady,
            code::UNAVAILABLE,
        ),
        (
            ErrorKind::NotReady,
            ProtocolState::RequestReady,
            code::UNAVAILABLE,
        ),
        (
            ErrorKind::Closed,
            ProtocolState::RequestDone,
            code::UNAVAILABLE,
        ),
        (
            ErrorKind::Downstream,
            ProtocolState::RequestBody,
            code::INTERNAL,
        ),
    ] {
        assert_eq!(err(kind, state).grpc_code(), expected, "{kind:?}");
    }
    let client = err(ErrorKind::ClientDeadline, ProtocolState::RequestDone);
    assert!(
        !client.counts_against_endpoint(),
        "a client's tight deadline is not the backend's fault"
    );
    assert_eq!(client.code(), 101_504);
    assert_eq!(
        err(ErrorKind::Unhealthy, ProtocolState::RequestDone).code(),
        101_600
    );
    // A backend at its stream limit is busy, not broken: UNAVAILABLE, never counted,
    // and the call may go to another child (nothing was sent).
    let busy = err(ErrorKind::Busy, ProtocolState::RequestReady);
    assert_eq!(
        (busy.code(), busy.grpc_code()),
        (101_601, code::UNAVAILABLE)
    );
    assert!(!busy.counts_against_endpoint() && !busy.may_have_reached_backend());
    assert!(!busy.is_client_fault());
}
