//! A mediation failure, and the JSON body of Axon's own error answers.

use actix_web::http::StatusCode;

use super::cause::BodyError;

/// A mediation failure (the engine's error layer).
#[derive(Debug, thiserror::Error)]
pub enum MediationError {
    /// The body could not be read.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A bare `send`/`call` with no `To` address.
    #[error("no endpoint to send to: the mediator names none and the message has no `To` address")]
    NoDestination,
    /// A bare `send`/`call` on a message whose `To` address is set (shown shortened) and
    /// not on the allow-list: Axon never sends to an address the message carries unless
    /// the operator allowed it.
    #[error(
        "a bare <send/> does not go to the message's `To` address (`{0}`): it is not on the allow-list (axon serve --allow-to), so a message's own address can never turn Axon into an open proxy; allow it, or name the endpoint in <send>"
    )]
    ImplicitTo(String),
    /// A mediator failed.
    #[error("{0}")]
    Failed(String),
    /// The payload a mediator needed is malformed (the sender's fault: 400, code 601000).
    #[error("{0}")]
    Payload(String),
    /// A property could not be set (a transport property that is no valid header).
    #[error("{0}")]
    Property(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The JSON body of Axon's own error answers: `{"error": {status, code, message, detail}}`.
pub(crate) fn error_json(status: StatusCode, code: u32, message: &str, detail: &str) -> String {
    serde_json::json!({
        "error": {
            "status": status.as_u16(),
            "code": code,
            "message": message,
            "detail": detail,
        }
    })
    .to_string()
}
