//! API lifecycle: the states of the WSO2 API lifecycle, their transition rules, and the live
//! state of each API that the HTTP front reads on every request.
//!
//! The declared state comes from `<api lifecycle>` (default PUBLISHED). The live state is one
//! atomic word per API ([`ApiLife`]), shared by every configuration generation in which the
//! API's declared state is unchanged, so a change made through the management API survives a
//! reload. Transitions are compare-and-swap loops over that word: every change is checked
//! against the state it replaces, without a lock, and changes to one API have one order.
//!
//! What each state means for a request ([`ApiLife::gate`]):
//!
//! | state | the front |
//! |---|---|
//! | CREATED | not deployed: the router skips the API (404 unless another API or `main` takes the path) |
//! | PROTOTYPED | served; the only state in which prototype endpoints answer |
//! | PUBLISHED | served |
//! | BLOCKED | refused: 503, error code 700700 |
//! | DEPRECATED | served, with a `Deprecation` response header (RFC 9745) |
//! | RETIRED | refused: 410 Gone, error code 700701 |

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use serde::Serialize;

/// Error code of a call to a BLOCKED API (Choreo Connect's "API blocked").
pub(crate) const API_BLOCKED: u32 = 700_700;
/// Error code of a call to a RETIRED API (Axon's own).
pub(crate) const API_RETIRED: u32 = 700_701;

/// The states of the WSO2 API lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Lifecycle {
    /// Defined but not deployed.
    Created,
    /// Deployed as a pre-release; prototype endpoints answer only in this state.
    Prototyped,
    /// Deployed and served.
    Published,
    /// Deployed, but every call is refused.
    Blocked,
    /// Served, with a `Deprecation` header; no new consumers should use it.
    Deprecated,
    /// Removed: calls get 410 Gone.
    Retired,
}

/// One allowed change of state: the WSO2 action name and where it leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The action, as WSO2 names it (`Publish`, `Deploy as a Prototype`, ...).
    pub(crate) action: &'static str,
    /// The state it leads to.
    pub(crate) target: Lifecycle,
}

/// Why a lifecycle change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The action or state name is not one Axon knows.
    #[error("unknown lifecycle {what} `{name}`")]
    Unknown {
        /// `action` or `state`.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// The lifecycle does not allow this change from the current state.
    #[error("{from} cannot {requested}; allowed from {from}: {allowed}")]
    NotAllowed {
        /// The current state.
        from: Lifecycle,
        /// What was asked, for the message (`go to RETIRED`, `Publish`).
        requested: String,
        /// The allowed actions, for the message.
        allowed: String,
    },
}

/// What the front does with a request for an API, by its live state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Serve it.
    Serve,
    /// Serve it with `Deprecation: @<unix seconds>`, the moment the API was deprecated.
    Deprecated(u64),
    /// Refuse it with Axon's error response.
    Refuse(Refusal),
}

/// The error answer for an API that refuses calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub(crate) status: StatusCode,
    /// Error code (`X-Axon-Error-Code`).
    pub(crate) code: u32,
    /// Short message.
    pub(crate) message: &'static str,
    /// What happened and what to do.
    pub(crate) detail: String,
}

/// The live lifecycle state of one API, shared across configuration generations.
#[derive(Debug)]
pub struct ApiLife {
    name: String,
    declared: Lifecycle,
    /// Low byte: the state; above it: the wall-clock second the state was entered.
    word: AtomicU64,
}

/// The result of a successful lifecycle change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Changed {
    /// The state before.
    pub(crate) from: Lifecycle,
    /// The state now.
    pub(crate) to: Lifecycle,
    /// False when the API was already in the requested state.
    pub(crate) changed: bool,
}

const ALL: [Lifecycle; 6] = [
    Lifecycle::Created,
    Lifecycle::Prototyped,
    Lifecycle::Published,
    Lifecycle::Blocked,
    Lifecycle::Deprecated,
    Lifecycle::Retired,
];

const fn t(action: &'static str, target: Lifecycle) -> Transition {
    Transition { action, target }
}

// The default API lifecycle of WSO2 API Manager (APILifeCycle.xml).
const FROM_CREATED: &[Transition] = &[
    t("Publish", Lifecycle::Published),
    t("Deploy as a Prototype", Lifecycle::Prototyped),
];
const FROM_PROTOTYPED: &[Transition] = &[
    t("Publish", Lifecycle::Published),
    t("Demote to Created", Lifecycle::Created),
];
const FROM_PUBLISHED: &[Transition] = &[
    t("Block", Lifecycle::Blocked),
    t("Deploy as a Prototype", Lifecycle::Prototyped),
    t("Demote to Created", Lifecycle::Created),
    t("Deprecate", Lifecycle::Deprecated),
];
const FROM_BLOCKED: &[Transition] = &[
    t("Deprecate", Lifecycle::Deprecated),
    t("Re-Publish", Lifecycle::Published),
];
const FROM_DEPRECATED: &[Transition] = &[t("Retire", Lifecycle::Retired)];

// === impl Lifecycle ===

impl Lifecycle {
    /// The name used in configuration, logs and the management API.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Created => "CREATED",
            Lifecycle::Prototyped => "PROTOTYPED",
            Lifecycle::Published => "PUBLISHED",
            Lifecycle::Blocked => "BLOCKED",
            Lifecycle::Deprecated => "DEPRECATED",
            Lifecycle::Retired => "RETIRED",
        }
    }

    /// Parses a state name, ignoring case; `PRE-RELEASED` (the later WSO2 name) is PROTOTYPED.
    pub(crate) fn parse(name: &str) -> Option<Lifecycle> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("PRE-RELEASED") || name.eq_ignore_ascii_case("PRE_RELEASED") {
            return Some(Lifecycle::Prototyped);
        }
        ALL.into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// Every state name, for error messages.
    pub(crate) fn names() -> String {
        ALL.map(Lifecycle::as_str).join(", ")
    }

    /// The changes the default WSO2 API lifecycle allows from this state.
    pub(crate) fn transitions(self) -> &'static [Transition] {
        match self {
            Lifecycle::Created => FROM_CREATED,
            Lifecycle::Prototyped => FROM_PROTOTYPED,
            Lifecycle::Published => FROM_PUBLISHED,
            Lifecycle::Blocked => FROM_BLOCKED,
            Lifecycle::Deprecated => FROM_DEPRECATED,
            Lifecycle::Retired => &[],
        }
    }

    /// The state an action leads to from this state.
    ///
    /// # Errors
    /// An unknown action, or one the lifecycle does not allow here. An action whose target
    /// is the current state (`Publish` while PUBLISHED) is allowed and changes nothing.
    pub(crate) fn apply(self, action: &str) -> Result<Lifecycle, TransitionError> {
        let wanted = action.trim();
        // "Demote to Prototyped" is the older WSO2 name of PUBLISHED -> PROTOTYPED.
        let canonical = if wanted.eq_ignore_ascii_case("Demote to Prototyped") {
            "Deploy as a Prototype"
        } else {
            wanted
        };
        if let Some(t) = self
            .transitions()
            .iter()
            .find(|t| t.action.eq_ignore_ascii_case(canonical))
        {
            return Ok(t.target);
        }
        let known = ALL
            .iter()
            .flat_map(|s| s.transitions())
            .find(|t| t.action.eq_ignore_ascii_case(canonical));
        match known {
            Some(t) if t.target == self => Ok(self),
            Some(_) => Err(self.not_allowed(format!("`{wanted}`"))),
            None => Err(TransitionError::Unknown {
                what: "action",
                name: wanted.to_owned(),
            }),
        }
    }

    /// Checks a move to `target` by the action that leads there.
    ///
    /// # Errors
    /// When no allowed action leads from this state to `target`. Staying is allowed.
    pub(crate) fn go_to(self, target: Lifecycle) -> Result<Lifecycle, TransitionError> {
        if target == self || self.transitions().iter().any(|t| t.target == target) {
            Ok(target)
        } else {
            Err(self.not_allowed(format!("go to {target}")))
        }
    }

    fn not_allowed(self, requested: String) -> TransitionError {
        let allowed: Vec<String> = self
            .transitions()
            .iter()
            .map(|t| format!("`{}` (to {})", t.action, t.target))
            .collect();
        TransitionError::NotAllowed {
            from: self,
            requested,
            allowed: if allowed.is_empty() {
                "nothing (the state is final)".to_owned()
            } else {
                allowed.join(", ")
            },
        }
    }

    fn bits(self) -> u64 {
        ALL.iter().position(|s| *s == self).unwrap_or(0) as u64
    }

    fn from_bits(bits: u64) -> Lifecycle {
        ALL.get((bits & 0xff) as usize)
            .copied()
            .unwrap_or(Lifecycle::Published)
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl ApiLife ===

impl ApiLife {
    /// A new cell in the `declared` state, entered now.
    pub fn new(name: &str, declared: Lifecycle) -> Self {
        ApiLife {
            name: name.to_owned(),
            declared,
            word: AtomicU64::new(encode(declared, unix_now())),
        }
    }

    /// The API's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The state written in the configuration.
    pub(crate) fn declared(&self) -> Lifecycle {
        self.declared
    }

    /// The live state (one atomic load).
    pub(crate) fn state(&self) -> Lifecycle {
        Lifecycle::from_bits(self.word.load(Ordering::Acquire))
    }

    /// The wall-clock second the live state was entered.
    pub(crate) fn since(&self) -> u64 {
        self.word.load(Ordering::Acquire) >> 8
    }

    /// True unless the API is CREATED (not deployed).
    pub(crate) fn is_deployed(&self) -> bool {
        self.state() != Lifecycle::Created
    }

    /// What the front does with a request for this API.
    pub fn gate(&self) -> Gate {
        let word = self.word.load(Ordering::Acquire);
        match Lifecycle::from_bits(word) {
            Lifecycle::Created | Lifecycle::Prototyped | Lifecycle::Published => Gate::Serve,
            Lifecycle::Deprecated => Gate::Deprecated(word >> 8),
            Lifecycle::Blocked => Gate::Refuse(Refusal {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: API_BLOCKED,
                message: "API blocked",
                detail: format!(
                    "the API `{}` is BLOCKED: its calls are refused until it is re-published",
                    self.name
                ),
            }),
            Lifecycle::Retired => Gate::Refuse(Refusal {
                status: StatusCode::GONE,
                code: API_RETIRED,
                message: "API retired",
                detail: format!("the API `{}` is RETIRED and no longer served", self.name),
            }),
        }
    }

    /// Applies a WSO2 lifecycle action (`Publish`, `Block`, ...).
    ///
    /// # Errors
    /// An unknown action, or one not allowed from the live state.
    pub(crate) fn act(&self, action: &str) -> Result<Changed, TransitionError> {
        self.change(|from| from.apply(action))
    }

    /// Moves to `target` by whichever allowed action leads there.
    ///
    /// # Errors
    /// When the lifecycle allows no such move from the live state.
    pub(crate) fn move_to(&self, target: Lifecycle) -> Result<Changed, TransitionError> {
        self.change(|from| from.go_to(target))
    }

    fn change(
        &self,
        decide: impl Fn(Lifecycle) -> Result<Lifecycle, TransitionError>,
    ) -> Result<Changed, TransitionError> {
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            let from = Lifecycle::from_bits(current);
            let to = decide(from)?;
            if to == from {
                return Ok(Changed {
                    from,
                    to,
                    changed: false,
                });
            }
            match self.word.compare_exchange(
                current,
                encode(to, unix_now()),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    tracing::info!(api = %self.name, %from, %to, "API lifecycle changed");
                    return Ok(Changed {
                        from,
                        to,
                        changed: true,
                    });
                }
                // Someone else changed it meanwhile: decide again from the new state.
                Err(now) => current = now,
            }
        }
    }
}

fn encode(state: Lifecycle, since: u64) -> u64 {
    state.bits() | (since << 8)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

#[cfg(test)]
mod tests;
