//! Running the branches of a fan-out (`clone`, `iterate`) and collecting them at an
//! `aggregate`.
//!
//! A branch is a copy of the message (`MessageContext::branch`: the parent's body shares
//! its bytes, a split element carries only its own) that starts on a copy of the parent's
//! frames, so that after its target it goes on where the parent would have, as Synapse's
//! continuations do; a branch whose target is an endpoint calls it first. Branches run
//! concurrently on the worker that runs the parent (`FuturesUnordered`), at most
//! `Limits::max_branches` at once (one at a time when `sequential`), all within the
//! parent's deadline (`Limits::global_timeout` from the fork).
//!
//! Each branch ends in one of three ways: it arrives at an aggregate, it ends with a
//! reply of its own (a response, or nothing), or it fails (after its own fault handling).
//! The first aggregate reached collects: the first arrived message is kept whole, of the
//! others only what the aggregation expression takes. When it completes (count, timeout,
//! or every branch ended) the branches still running are dropped and listed as late, the
//! merged message takes the parent's place, and `onComplete` runs once on it, then the
//! flow goes on after the aggregate (where the last collected branch was). Without an
//! aggregate, the first branch's response is the parent's outcome, else the first
//! branch's fault, else nothing (202).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use super::{
    Driven, Exchange, Failure, FlowEnd, Frame, Reply, Runtime, Start, fault, push_branch,
    push_sequence,
};
use crate::base::mediation::MediationError;
use crate::mediators::{Aggregate, Branch, Env, Fork, ForkBranch, Part, Reassemble};
use crate::message::{Attempt, AttemptOutcome, Body, MessageContext, Scope, Value};

/// How the parent goes on after a fan-out.
pub(super) enum Forked<'c> {
    /// With the next mediator (`continueParent`).
    Continue,
    /// On these frames, with the merged message in place of the parent.
    Replace(Vec<Frame<'c>>),
    /// The flow ends.
    End(FlowEnd<'c>),
}

/// What a fan-out has gathered so far.
struct Gather<'c> {
    id: &'c str,
    /// When it stops waiting.
    state: Completion,
    bucket: Option<Bucket<'c>>,
    /// The first branch's response, and the first branch's failure.
    reply: Option<Reply>,
    fault: Option<Reply>,
    /// Results left out: responses after the first, arrivals at another aggregate.
    dropped: usize,
    failed: usize,
    /// The branches' endpoint tries, under `id[i]`.
    attempts: Vec<Attempt>,
    /// The deadline passed before anything was collected.
    timed_out: bool,
    /// In place: the body each branch ended with, by index.
    items: Option<Vec<Option<Bytes>>>,
}

/// The messages an aggregate collected.
struct Bucket<'c> {
    aggregate: &'c Aggregate,
    /// The first arrived message, whole (the merged message is built on it).
    first: MessageContext,
    parts: Vec<Part>,
    /// Where the last collected branch goes on.
    frames: Vec<Frame<'c>>,
}

/// When a fan-out stops waiting for its branches: a plain state machine fed the
/// branches' ends and the time (never reading a clock), so that its rules are tested
/// without a runtime.
#[derive(Debug)]
struct Completion {
    n: usize,
    /// Which branches ended (arrived, replied or failed).
    done: Vec<bool>,
    started: usize,
    /// The message's deadline.
    deadline: Instant,
    /// When the aggregate's timeout ends (from the first collected message).
    timer: Option<Instant>,
    /// The aggregate's count is reached.
    complete: bool,
}

/// An aggregate's `completeCondition`.
#[derive(Debug, Clone, Copy, Default)]
struct Condition {
    timeout: Option<std::time::Duration>,
    min: Option<usize>,
    max: Option<usize>,
}

type Running<'a, 'c> = FuturesUnordered<LocalBoxFuture<'a, (usize, Driven<'c>)>>;

impl Runtime {
    /// Runs the branches of `fork` for the parent `msg` (whose frames are `frames`).
    pub(super) async fn fork<'c>(
        &'c self,
        env: &Env<'c>,
        ex: &Exchange,
        frames: &[Frame<'c>],
        fork: Fork<'c>,
        msg: &mut MessageContext,
        branch: bool,
    ) -> Forked<'c> {
        if let Err(error) = msg.body.buffer(self.limits.max_body).await {
            return Forked::End(fault(frames, Failure::of_mediation(msg, error.into())));
        }
        let parent_body = match &msg.body {
            Body::Full(bytes) => Some(bytes.clone()),
            _ => None,
        };
        let Fork {
            id,
            sequential,
            continue_parent,
            branches,
            in_place,
        } = fork;
        let n = branches.len();
        let deadline = Instant::now() + self.limits.global_timeout;
        let mut gather = Gather::new(id, Completion::new(n, deadline));
        if in_place.is_some() {
            gather.items = Some(vec![None; n]);
        }
        let limit = if sequential {
            1
        } else {
            self.limits.max_branches.max(1)
        };
        // In place, an item's response never goes on to the out-sequence.
        let item_ex = Exchange {
            out_seq: None,
            root_fault: ex.root_fault,
        };
        let ex = if in_place.is_some() { &item_ex } else { ex };
        let mut pending = branches.into_iter().enumerate();
        let mut running: Running<'_, 'c> = FuturesUnordered::new();
        loop {
            while running.len() < limit && !gather.state.complete {
                let Some((i, b)) = pending.next() else { break };
                // In place, an item runs its target only.
                let on = if in_place.is_some() { &[] } else { frames };
                let (start, m) = self.branch_start(on, id, (i, n), b, msg, &parent_body);
                gather.state.started += 1;
                running.push(Box::pin(async move {
                    (i, self.drive(env, ex, start, m, true).await)
                }));
            }
            if gather.state.complete || running.is_empty() {
                break;
            }
            match tokio::time::timeout_at(gather.state.wake(), running.next()).await {
                Ok(Some((i, driven))) => gather.add(self, i, driven).await,
                Ok(None) => break,
                Err(_) => break,
            }
        }
        drop(running);
        let timed_out = gather.state.deadline_passed(Instant::now());
        gather.finish(msg, timed_out);
        if let Some(reassemble) = in_place {
            return gather.put_back(reassemble, msg, frames);
        }
        self.after_fork(env, ex, frames, gather, msg, (continue_parent, branch))
            .await
    }

    /// The message and start of branch `i` of `n`: a copy of the parent with the
    /// correlation properties (`aggregateCorelation[.id]`, `messageSequence[.id]` =
    /// `i/n`), the target's `soapAction` and `to`, on a copy of the parent's frames.
    fn branch_start<'c>(
        &'c self,
        frames: &[Frame<'c>],
        id: &str,
        (i, n): (usize, usize),
        b: ForkBranch<'c>,
        parent: &MessageContext,
        parent_body: &Option<Bytes>,
    ) -> (Start<'c>, MessageContext) {
        let (body, content_type) = match b.body {
            Some((bytes, ct)) => (Body::Full(bytes), Some(ct)),
            None => (parent_body.clone().map_or(Body::Empty, Body::Full), None),
        };
        let mut m = parent.branch(body);
        if let Some(ct) = content_type {
            _ = m.set_property(Scope::Transport, "Content-Type", Value::Str(ct.into()));
        }
        let parent_id = parent.id.to_string();
        m.set("aggregateCorelation", parent_id.clone());
        if id.is_empty() {
            m.set("messageSequence", format!("{i}/{n}"));
        } else {
            m.set(format!("aggregateCorelation.{id}"), parent_id);
            m.set(format!("messageSequence.{id}"), format!("{i}/{n}"));
        }
        let target = b.target;
        if let Some(action) = &target.soap_action {
            let quoted = Value::Str(format!("\"{action}\""));
            _ = m.set_property(Scope::Transport, "SOAPAction", quoted);
        }
        if let Some(to) = &target.to {
            m.to = Some(to.clone());
        }
        let mut f = frames.to_vec();
        match &target.sequence {
            Some(Branch::Inline(list)) => push_branch(&mut f, list),
            Some(Branch::Sequence(seq)) => push_sequence(&mut f, self, *seq),
            // Synapse: a target with neither a sequence nor an endpoint does nothing.
            None if target.endpoint.is_none() => f.clear(),
            None => {}
        }
        let start = Start::Frames {
            frames: f,
            call: target.endpoint,
        };
        (start, m)
    }

    /// The parent's way on once the branches are gathered.
    async fn after_fork<'c>(
        &'c self,
        env: &Env<'c>,
        ex: &Exchange,
        frames: &[Frame<'c>],
        mut gather: Gather<'c>,
        msg: &mut MessageContext,
        (continue_parent, branch): (bool, bool),
    ) -> Forked<'c> {
        let Some(bucket) = gather.bucket.take() else {
            msg.attempts.append(&mut gather.attempts);
            if continue_parent {
                return Forked::Continue;
            }
            return Forked::End(gather.outcome(msg, frames));
        };
        let Bucket {
            aggregate,
            mut first,
            parts,
            frames: next,
        } = bucket;
        first.id = msg.id.clone();
        first.attempts = std::mem::take(&mut msg.attempts);
        first.attempts.append(&mut gather.attempts);
        let merged = aggregate.merge(&mut first, parts);
        if continue_parent {
            let frames = merged.map(|()| aggregate.on_complete().map(|b| self.push(next, b)));
            msg.attempts = self.complete_beside(env, ex, first, frames, branch).await;
            return Forked::Continue;
        }
        *msg = first;
        if let Err(error) = merged {
            return Forked::End(fault(&next, Failure::Mediation(error)));
        }
        match aggregate.on_complete() {
            Some(b) => Forked::Replace(self.push(next, b)),
            None => Forked::End(FlowEnd::Drop),
        }
    }

    /// `frames` with a branch on top.
    fn push<'c>(&'c self, mut frames: Vec<Frame<'c>>, branch: &'c Branch) -> Vec<Frame<'c>> {
        match branch {
            Branch::Inline(list) => push_branch(&mut frames, list),
            Branch::Sequence(seq) => push_sequence(&mut frames, self, *seq),
        }
        frames
    }

    /// `continueParent`: the merged message runs its `onComplete` (`frames`) on its own
    /// while the parent goes on with its own message; the merged outcome is not the
    /// client's (the parent's is), only its endpoint tries are, returned for the trace.
    async fn complete_beside<'c>(
        &'c self,
        env: &Env<'c>,
        ex: &Exchange,
        merged: MessageContext,
        frames: Result<Option<Vec<Frame<'c>>>, MediationError>,
        branch: bool,
    ) -> Vec<Attempt> {
        let frames = match frames {
            Ok(Some(frames)) => frames,
            Ok(None) => return merged.attempts,
            Err(error) => {
                tracing::warn!(message_id = %merged.id, %error, "The aggregate could not merge beside a parent that continues; onComplete did not run");
                return merged.attempts;
            }
        };
        let start = Start::Frames { frames, call: None };
        let driven = Box::pin(self.drive(env, ex, start, merged, branch)).await;
        tracing::debug!("onComplete ran beside a parent that continues; its result is not sent");
        driven_message(driven).attempts
    }
}

// === impl Gather ===

impl<'c> Gather<'c> {
    fn new(id: &'c str, state: Completion) -> Self {
        Gather {
            id,
            state,
            bucket: None,
            reply: None,
            fault: None,
            dropped: 0,
            failed: 0,
            attempts: Vec::new(),
            timed_out: false,
            items: None,
        }
    }

    /// The trace label of this fan-out's branches.
    fn label(&self) -> &'c str {
        if self.id.is_empty() { "fork" } else { self.id }
    }

    /// Takes in how branch `i` ended.
    async fn add(&mut self, rt: &Runtime, i: usize, driven: Driven<'c>) {
        self.state.ended(i);
        match driven {
            Driven::Arrived {
                aggregate,
                frames,
                mut msg,
            } => {
                self.take_attempts(i, &mut msg);
                self.arrive(rt, aggregate, frames, msg).await;
            }
            Driven::Reply(mut reply) => {
                self.take_attempts(i, reply_message(&mut reply));
                if self.items.is_some() {
                    return self.item(rt, i, reply).await;
                }
                match reply {
                    Reply::Message(_) if self.reply.is_none() => self.reply = Some(reply),
                    Reply::Message(_) => self.dropped += 1,
                    Reply::Fault(..) => {
                        self.failed += 1;
                        self.fault.get_or_insert(reply);
                    }
                    Reply::Accepted(_) => {}
                }
            }
        }
    }

    /// In place: keeps the body item `i` ended with (a failed item keeps none).
    async fn item(&mut self, rt: &Runtime, i: usize, reply: Reply) {
        let mut m = match reply {
            Reply::Message(m) | Reply::Accepted(m) => m,
            Reply::Fault(..) => {
                self.failed += 1;
                return;
            }
        };
        let body = match m.body.buffer(rt.limits.max_body).await {
            Ok(_) => m.body_bytes().ok(),
            Err(_) => None,
        };
        if let Some(slot) = self.items.as_mut().and_then(|items| items.get_mut(i)) {
            *slot = body;
        }
    }

    /// In place: the results put back into the parent, which goes on (the mediator
    /// decides what a failed item means).
    fn put_back(
        &mut self,
        reassemble: &dyn Reassemble,
        msg: &mut MessageContext,
        frames: &[Frame<'_>],
    ) -> Forked<'c> {
        msg.attempts.append(&mut self.attempts);
        let items = self.items.take().unwrap_or_default();
        let result = reassemble.reassemble(msg, items);
        match result {
            Ok(()) => Forked::Continue,
            Err(error) => Forked::End(fault(frames, Failure::of_mediation(msg, error))),
        }
    }

    /// Moves the endpoint tries of branch `i` into the trace, under `id[i]`.
    fn take_attempts(&mut self, i: usize, msg: &mut MessageContext) {
        let via: Arc<str> = format!("{}[{i}]", self.label()).into();
        for mut a in msg.attempts.drain(..) {
            a.via = Some(match &a.via {
                Some(v) => format!("{via}/{v}").into(),
                None => via.clone(),
            });
            self.attempts.push(a);
        }
    }

    /// A branch collected by `aggregate`: the first is kept whole, of the others what the
    /// aggregation expression takes. A branch whose part cannot be taken counts as failed.
    async fn arrive(
        &mut self,
        rt: &Runtime,
        aggregate: &'c Aggregate,
        frames: Vec<Frame<'c>>,
        mut msg: MessageContext,
    ) {
        if (self.bucket.as_ref()).is_some_and(|b| !std::ptr::eq(b.aggregate, aggregate)) {
            self.dropped += 1;
            return;
        }
        let part = match msg.body.buffer(rt.limits.max_body).await {
            Ok(_) => aggregate.part(&mut msg),
            Err(error) => Err(MediationError::from(error)),
        };
        let part = match part {
            Ok(part) => part,
            Err(error) => {
                self.failed += 1;
                tracing::warn!(message_id = %msg.id, %error, "A collected message gave no part to aggregate; counted as a failed branch");
                return;
            }
        };
        let count = match &mut self.bucket {
            Some(b) => {
                b.parts.push(part);
                b.frames = frames;
                b.parts.len()
            }
            None => {
                self.bucket = Some(Bucket {
                    aggregate,
                    first: msg,
                    parts: vec![part],
                    frames,
                });
                1
            }
        };
        let condition = Condition {
            timeout: aggregate.timeout,
            min: aggregate.min,
            max: aggregate.max,
        };
        self.state.collected(count, condition, Instant::now());
    }

    /// Lists the branches still running as late (their results are dropped) and logs
    /// what the fan-out gathered.
    fn finish(&mut self, msg: &MessageContext, deadline_passed: bool) {
        let late = self.state.late();
        for i in &late {
            self.attempts.push(Attempt {
                endpoint: format!("{}[{i}]", self.label()).into(),
                outcome: AttemptOutcome::Skipped("late"),
                via: None,
            });
        }
        self.timed_out = deadline_passed && self.bucket.is_none();
        tracing::info!(
            message_id = %msg.id,
            fan_out = self.label(),
            branches = self.state.n,
            collected = self.bucket.as_ref().map_or(0, |b| b.parts.len()),
            failed = self.failed,
            dropped = self.dropped,
            late = late.len(),
            not_started = self.state.n - self.state.started,
            "Fan-out gathered"
        );
    }

    /// The parent's outcome when no aggregate collected: the first branch's response,
    /// else its first failure, else nothing.
    fn outcome(&mut self, msg: &mut MessageContext, frames: &[Frame<'_>]) -> FlowEnd<'c> {
        if let Some(mut reply) = self.reply.take().or_else(|| self.fault.take()) {
            if let Reply::Fault(fault, _) = &mut reply {
                fault.message_id = msg.id.to_string();
            }
            let m = reply_message(&mut reply);
            m.id = msg.id.clone();
            m.attempts = std::mem::take(&mut msg.attempts);
            return FlowEnd::Done(Box::new(reply));
        }
        if self.timed_out {
            let error = MediationError::Failed(format!(
                "the branches of `{}` did not end within the message's deadline",
                self.label()
            ));
            return fault(frames, Failure::Mediation(error));
        }
        FlowEnd::Drop
    }
}

// === impl Completion ===

impl Completion {
    fn new(n: usize, deadline: Instant) -> Self {
        Completion {
            n,
            done: vec![false; n],
            started: 0,
            deadline,
            timer: None,
            complete: false,
        }
    }

    /// Branch `i` ended (arrived, replied or failed).
    fn ended(&mut self, i: usize) {
        if let Some(d) = self.done.get_mut(i) {
            *d = true;
        }
    }

    /// The aggregate collected its `count`th message at `now`: the first starts its
    /// timeout; the count completes it at `max`, at `min`, or when every branch came.
    fn collected(&mut self, count: usize, condition: Condition, now: Instant) {
        if count == 1 {
            self.timer = condition.timeout.map(|t| now + t);
        }
        self.complete = condition.max.is_some_and(|m| count >= m)
            || condition.min.is_some_and(|m| count >= m)
            || count >= self.n;
    }

    /// When waiting ends at the latest: the aggregate's timeout or the message's deadline.
    fn wake(&self) -> Instant {
        self.timer.map_or(self.deadline, |t| t.min(self.deadline))
    }

    /// True when the message's deadline passed at `now` with a branch not ended.
    fn deadline_passed(&self, now: Instant) -> bool {
        now >= self.deadline && self.done.iter().any(|d| !d)
    }

    /// The branches started and not ended: late, their results dropped.
    fn late(&self) -> Vec<usize> {
        let started = self.done.iter().take(self.started);
        (started.enumerate())
            .filter_map(|(i, done)| (!done).then_some(i))
            .collect()
    }
}

/// The message a reply carries.
fn reply_message(reply: &mut Reply) -> &mut MessageContext {
    match reply {
        Reply::Message(m) | Reply::Accepted(m) | Reply::Fault(_, m) => m,
    }
}

/// The message a driven flow ended with.
fn driven_message(driven: Driven<'_>) -> MessageContext {
    match driven {
        Driven::Reply(Reply::Message(m) | Reply::Accepted(m) | Reply::Fault(_, m)) => m,
        Driven::Arrived { msg, .. } => msg,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{Completion, Condition};

    const DEADLINE: Duration = Duration::from_secs(60);

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn a_count_completes_at_min_or_max_and_never_before() {
        let t0 = Instant::now();
        let min = Condition {
            min: Some(2),
            ..Condition::default()
        };
        let mut c = Completion::new(3, t0 + DEADLINE);
        c.collected(1, min, t0);
        assert!(!c.complete);
        c.collected(2, min, t0);
        assert!(c.complete);
        let max = Condition {
            max: Some(1),
            ..Condition::default()
        };
        let mut c = Completion::new(3, t0 + DEADLINE);
        c.collected(1, max, t0);
        assert!(c.complete);
    }

    #[test]
    fn without_a_count_every_branch_must_arrive() {
        let t0 = Instant::now();
        let mut c = Completion::new(3, t0 + DEADLINE);
        for count in 1..=2 {
            c.collected(count, Condition::default(), t0);
            assert!(!c.complete, "complete after {count} of 3");
        }
        c.collected(3, Condition::default(), t0);
        assert!(c.complete);
    }

    #[test]
    fn the_timeout_runs_from_the_first_collected_and_never_past_the_deadline() {
        let t0 = Instant::now();
        let five = Condition {
            timeout: Some(Duration::from_secs(5)),
            ..Condition::default()
        };
        let mut c = Completion::new(3, t0 + DEADLINE);
        assert_eq!(c.wake(), t0 + DEADLINE, "nothing collected: the deadline");
        c.collected(1, five, at(t0, 10));
        assert_eq!(c.wake(), at(t0, 15));
        c.collected(2, five, at(t0, 12));
        assert_eq!(c.wake(), at(t0, 15), "a later arrival does not restart it");
        let long = Condition {
            timeout: Some(Duration::from_secs(100)),
            ..Condition::default()
        };
        let mut c = Completion::new(3, t0 + DEADLINE);
        c.collected(1, long, at(t0, 10));
        assert_eq!(c.wake(), t0 + DEADLINE);
    }

    #[test]
    fn late_branches_are_those_started_and_not_ended() {
        let t0 = Instant::now();
        let mut c = Completion::new(4, t0 + DEADLINE);
        c.started = 3;
        c.ended(1);
        assert_eq!(c.late(), vec![0, 2], "the fourth never started");
        assert!(!c.deadline_passed(at(t0, 59)));
        assert!(c.deadline_passed(t0 + DEADLINE));
        for i in [0, 2, 3] {
            c.ended(i);
        }
        assert!(c.late().is_empty());
        assert!(
            !c.deadline_passed(t0 + DEADLINE),
            "every branch ended in time"
        );
    }
}
