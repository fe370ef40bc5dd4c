//! The API lifecycle in the management API.
//!
//! | route | what |
//! |---|---|
//! | `GET /apis/{name}/lifecycle` | the live state, the declared one, since when, and the allowed actions |
//! | `POST /apis/{name}/lifecycle` | change it: `{"action": "Publish"}` (a WSO2 action) or `{"state": "PUBLISHED"}` (the target); also `?action=` / `?state=` |
//!
//! A change takes effect on the next request, with no reload, and survives reloads of a
//! configuration in which the API's `lifecycle` attribute is unchanged. It is kept in
//! memory: a restart starts from the configuration again.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::base::lifecycle::{ApiLife, Changed, Lifecycle, TransitionError};
use crate::endpoints::actor::rfc3339;
use crate::engine::live::Shared;

/// A lifecycle change request: exactly one of the two.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    action: Option<String>,
    state: Option<String>,
}

/// The lifecycle of one API as the management API shows it.
pub(crate) fn state_json(life: &ApiLife) -> Json {
    let state = life.state();
    let since = std::time::UNIX_EPOCH + std::time::Duration::from_secs(life.since());
    json!({
        "state": state,
        "declared": life.declared(),
        "since": rfc3339(since),
        "transitions": state.transitions(),
    })
}

/// `GET /apis/{name}/lifecycle`.
pub(crate) async fn get(shared: web::Data<Shared>, name: web::Path<String>) -> HttpResponse {
    let rt = shared.runtime();
    match rt.apis.named(&name) {
        Some(life) => {
            let mut body = state_json(life);
            body["api"] = json!(life.name());
            HttpResponse::Ok().json(body)
        }
        None => no_api(&name),
    }
}

/// `POST /apis/{name}/lifecycle`.
pub(crate) async fn change(
    shared: web::Data<Shared>,
    name: web::Path<String>,
    query: web::Query<Change>,
    body: web::Bytes,
) -> HttpResponse {
    let rt = shared.runtime();
    let Some(life) = rt.apis.named(&name) else {
        return no_api(&name);
    };
    let requested = match requested_change(query.into_inner(), &body) {
        Ok(change) => change,
        Err(error) => {
            return problem(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body must be JSON like {{\"action\": \"Publish\"}} or {{\"state\": \"PUBLISHED\"}}: {error}"
                ),
            );
        }
    };
    let result = match requested {
        Change {
            action: Some(action),
            state: None,
        } => life.act(&action),
        Change {
            action: None,
            state: Some(state),
        } => match Lifecycle::parse(&state) {
            Some(target) => life.move_to(target),
            None => Err(TransitionError::Unknown {
                what: "state",
                name: state,
            }),
        },
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "give exactly one of `action` (a lifecycle action such as \"Publish\") or `state` (such as \"PUBLISHED\")".to_owned(),
            );
        }
    };
    changed(life, result)
}

/// The change asked for: the body's fields, else the query's.
///
/// # Errors
/// A body that is not a change in JSON.
fn requested_change(query: Change, body: &[u8]) -> Result<Change, serde_json::Error> {
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        Change::default()
    } else {
        serde_json::from_slice::<Change>(body)?
    };
    Ok(Change {
        action: from_body.action.or(query.action),
        state: from_body.state.or(query.state),
    })
}

/// The answer to a change of `life`: its new state, or why it did not change.
fn changed(life: &ApiLife, result: Result<Changed, TransitionError>) -> HttpResponse {
    match result {
        Ok(changed) => {
            let mut body = state_json(life);
            body["api"] = json!(life.name());
            body["from"] = json!(changed.from);
            body["changed"] = json!(changed.changed);
            HttpResponse::Ok().json(body)
        }
        Err(error @ TransitionError::Unknown { what, .. }) => {
            let expected = if what == "state" {
                Lifecycle::names()
            } else {
                "Publish, Deploy as a Prototype, Demote to Created, Block, Re-Publish, Deprecate, Retire".to_owned()
            };
            problem(
                StatusCode::BAD_REQUEST,
                format!("{error} (expected one of {expected})"),
            )
        }
        Err(error @ TransitionError::NotAllowed { .. }) => {
            let mut body = json!({ "error": error.to_string() });
            body["state"] = json!(life.state());
            body["transitions"] = json!(life.state().transitions());
            HttpResponse::Conflict().json(body)
        }
    }
}

fn no_api(name: &str) -> HttpResponse {
    problem(StatusCode::NOT_FOUND, format!("no API named `{name}`"))
}

fn problem(status: StatusCode, message: String) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message }))
}
