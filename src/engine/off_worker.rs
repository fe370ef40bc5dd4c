//! Mediator steps that read a large payload run on tokio's blocking pool.
//!
//! The XPath DOM a mediator reads is not `Send`, so it cannot be built on another thread
//! and brought back. Instead the step goes to the payload: the message is taken apart
//! (`message/off_worker.rs`), its sendable part travels to a blocking thread with the
//! configuration (an `Arc`) and the place of the mediator in it, the mediator runs there
//! (parsing the payload there, once for the step and the payload-reading steps right after
//! it in the same list), and the message comes back with the step's outcome. The DOM is
//! dropped where it was built. The I/O worker meanwhile serves its other connections.
//!
//! A place is a sequence and, for branches, the way down to them: the index of the
//! mediator that chose each branch and the branch's number (`Mediator::branch`). A step
//! that chooses a branch sends back the branch's number, and the worker finds the same
//! list through its own reference to the mediator.

use std::sync::Arc;

use super::{Frame, MediationError, Runtime};
use crate::config::{Config, SeqId};
use crate::mediators::{Env, Mediator, Step, Steps};
use crate::message::MessageContext;
use crate::message::off_worker::{self, Detached};

pub(super) use off_worker::heavy_body;

/// Where a mediator sits in the configuration.
struct Place {
    seq: SeqId,
    /// From the sequence down: (index of the mediator that chose a branch, its number).
    hops: Vec<(usize, usize)>,
    index: usize,
}

/// A step's outcome that can cross threads.
enum Sent {
    Step(Step<'static>),
    Branch(usize),
    /// A fan-out: the bodies of its branches (`Mediator::fork_from` makes it again).
    Fork(Vec<Option<(bytes::Bytes, &'static str)>>),
}

/// What comes back from the blocking thread: the message, how many steps ran, the last
/// one's outcome.
type Done = (Detached, usize, Result<Sent, MediationError>);

impl Runtime {
    /// Runs the step of the mediator on top of `frames` (already counted in its frame's
    /// `next`), and the payload-reading steps right after it, on the blocking pool.
    pub(super) async fn mediate_off_worker<'c>(
        &'c self,
        frames: &mut [Frame<'c>],
        msg: &mut MessageContext,
    ) -> Result<Step<'c>, MediationError> {
        let Some((place, top)) = Place::of(frames).zip(frames.last_mut()) else {
            return Err(lost());
        };
        let index = place.index;
        let (detached, kept) = msg.detach();
        let (config, steps) = (Arc::clone(&self.config), Arc::clone(&self.steps));
        let Some((detached, ran, outcome)) =
            off_worker::run(move || run_steps(&config, &steps, &place, detached)).await
        else {
            // The runtime is shutting down: `msg` is the shell `detach` left.
            return Err(MediationError::Failed(
                "the mediation was cancelled: Axon is shutting down".into(),
            ));
        };
        *msg = MessageContext::attach(detached, kept);
        let last = top.mediators.get(index + ran.max(1) - 1);
        top.next = index + ran.max(1);
        match (outcome?, last) {
            (Sent::Step(step), _) => Ok(step),
            (Sent::Branch(n), Some(m)) => m.branch(n).map(Step::Mediators).ok_or_else(lost),
            (Sent::Fork(bodies), Some(m)) => m.fork_from(bodies).ok_or_else(lost),
            (Sent::Branch(_) | Sent::Fork(_), None) => Err(lost()),
        }
    }
}

/// Runs, on a blocking thread, the mediator at `place` and the payload-reading ones after
/// it while each continues and the body stays large.
fn run_steps(config: &Config, steps: &Steps, place: &Place, detached: Detached) -> Done {
    let env = Env { config };
    let mut msg = detached.into_message();
    let list = place.list(steps).unwrap_or_default();
    let mut ran = 0;
    let outcome = loop {
        let Some(mediator) = list.get(place.index + ran) else {
            break Err(lost());
        };
        ran += 1;
        match mediator.mediate(&mut msg, &env) {
            Ok(Step::Continue)
                if heavy_body(&msg.body)
                    && list
                        .get(place.index + ran)
                        .is_some_and(|next| next.reads_payload()) => {}
            other => break other.and_then(|step| Sent::of(mediator.as_ref(), step)),
        }
    };
    // The parsed payload is dropped here, on the thread that built it.
    let (detached, _parsed) = msg.detach();
    (detached, ran, outcome)
}

fn lost() -> MediationError {
    MediationError::Failed(
        "internal error: a mediator step run off the I/O worker lost its place".into(),
    )
}

// === impl Place ===

impl Place {
    /// The place of the mediator on top of `frames` (its frame's `next` already counts it).
    fn of(frames: &[Frame<'_>]) -> Option<Place> {
        let index = frames.last()?.next.checked_sub(1)?;
        let mut hops = Vec::new();
        for (depth, frame) in frames.iter().enumerate().rev() {
            if let Some(seq) = frame.seq {
                hops.reverse();
                return Some(Place { seq, hops, index });
            }
            // A branch: its parent's current mediator chose it.
            let parent = frames.get(depth.checked_sub(1)?)?;
            let at = parent.next.checked_sub(1)?;
            let chooser = parent.mediators.get(at)?;
            hops.push((at, branch_number(chooser.as_ref(), frame.mediators)?));
        }
        None
    }

    /// The list of mediators the place is in.
    fn list<'a>(&self, steps: &'a Steps) -> Option<&'a [Box<dyn Mediator>]> {
        let mut list: &[Box<dyn Mediator>] = steps.sequence(self.seq);
        for &(at, n) in &self.hops {
            list = list.get(at)?.branch(n)?;
        }
        Some(list)
    }
}

/// The number of `list` among the branches of `chooser`.
fn branch_number(chooser: &dyn Mediator, list: &[Box<dyn Mediator>]) -> Option<usize> {
    (0..)
        .map_while(|n| chooser.branch(n))
        .position(|branch| std::ptr::eq(branch, list))
}

// === impl Sent ===

impl Sent {
    fn of(mediator: &dyn Mediator, step: Step<'_>) -> Result<Sent, MediationError> {
        Ok(Sent::Step(match step {
            Step::Mediators(list) => {
                return branch_number(mediator, list)
                    .map(Sent::Branch)
                    .ok_or_else(lost);
            }
            Step::Fork(fork) => {
                return Ok(Sent::Fork(
                    fork.branches.into_iter().map(|b| b.body).collect(),
                ));
            }
            // `aggregate` never reads the payload itself, so never runs here.
            Step::Aggregate(_) => return Err(lost()),
            Step::Continue => Step::Continue,
            Step::Sequence(id) => Step::Sequence(id),
            Step::NeedBody => Step::NeedBody,
            Step::Call(endpoint) => Step::Call(endpoint),
            Step::Send { endpoint, receive } => Step::Send { endpoint, receive },
            Step::Respond => Step::Respond,
            Step::Drop => Step::Drop,
            Step::Loopback => Step::Loopback,
            Step::Template {
                sequence,
                params,
                on_error,
            } => Step::Template {
                sequence,
                params,
                on_error,
            },
        }))
    }
}
