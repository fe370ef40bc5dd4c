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
    n: usize,
    /// Which branches ended (arrived, replied or failed).
    done: Vec<bool>,
    started: usize,
    bucket: Option<Bucket<'c>>,
    /// The first branch's response, and the first branch's failure.
    reply: Option<Reply>,
    fault: Option<Reply>,
    /// Results left out: responses after the first, arrivals at another aggregate.
    dropped: usize,
    failed: usize,
    /// The branches' endpoint tries, under `id[i]`.
    attempts: Vec<Attempt>,
    /// When the aggregate's timeout ends.
    timer: Option<Instant>,
    complete: bool,
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
        let mut gather = Gather::new(id, n);
        if in_place.is_some() {
            gather.items = Some(vec![None; n]);
        }
        let limit = if sequential {
            1
        } else {
            self.limits.max_branches.max(1)
        };
        let deadline = Instant::now() + self.limits.global_timeout;
        // In place, an item's response never goes on to the out-sequence.
        let item_ex = Exchange {
            out_seq: None,
            root_fault: ex.root_fault,
        };
        let ex = if in_place.is_some() { &item_ex } else { ex };
        let mut pending = branches.into_iter().enumerate();
        let mut running: Running<'_, 'c> = FuturesUnordered::new();
        loop {
            while running.len() < limit && !gather.complete {
                let Some((i, b)) = pending.next() else { break };
                // In place, an item runs its target only.
                let on = if in_place.is_some() { &[] } else { frames };
                let (start, m) = self.branch_start(on, id, (i, n), b, msg, &parent_body);
                gather.started += 1;
                running.push(Box::pin(async move {
                    (i, self.drive(env, ex, start, m, true).await)
                }));
            }
            if gather.complete || running.is_empty() {
                break;
            }
            let wake = gather.timer.map_or(deadline, |t| t.min(deadline));
            match tokio::time::timeout_at(wake, running.next()).await {
                Ok(Some((i, driven))) => gather.add(self, i, driven).await,
                Ok(None) => break,
                Err(_) => break,
            }
        }
        drop(running);
        let timed_out = Instant::now() >= deadline && gather.done.iter().any(|d| !d);
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
            frames: mut next,
        } = bucket;
        first.id = msg.id.clone();
        first.attempts = std::mem::take(&mut msg.attempts);
        first.attempts.append(&mut gather.attempts);
        let merged = aggregate.merge(&mut first, parts);
        *msg = first;
        if let Err(error) = merged {
            return Forked::End(fault(&next, Failure::Mediation(error)));
        }
        match aggregate.on_complete() {
            Some(Branch::Inline(list)) => push_branch(&mut next, list),
            Some(Branch::Sequence(seq)) => push_sequence(&mut next, self, *seq),
            None => return Forked::End(FlowEnd::Drop),
        }
        if !continue_parent {
            return Forked::Replace(next);
        }
        // The parent goes on: the merged message runs its onComplete on its own, and its
        // outcome is not the client's (the parent's is).
        let merged = std::mem::replace(msg, msg.branch(Body::Empty));
        let start = Start::Frames {
            frames: next,
            call: None,
        };
        let driven = Box::pin(self.drive(env, ex, start, merged, branch)).await;
        msg.attempts = driven_message(driven).attempts;
        tracing::debug!(message_id = %msg.id, "onComplete ran beside a parent that continues; its result is not sent");
        Forked::Continue
    }
}

// === impl Gather ===

impl<'c> Gather<'c> {
    fn new(id: &'c str, n: usize) -> Self {
        Gather {
            id,
            n,
            done: vec![false; n],
            started: 0,
            bucket: None,
            reply: None,
            fault: None,
            dropped: 0,
            failed: 0,
            attempts: Vec::new(),
            timer: None,
            complete: false,
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
        if let Some(d) = self.done.get_mut(i) {
            *d = true;
        }
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
                self.timer = aggregate.timeout.map(|t| Instant::now() + t);
                self.bucket = Some(Bucket {
                    aggregate,
                    first: msg,
                    parts: vec![part],
                    frames,
                });
                1
            }
        };
        self.complete = aggregate.max.is_some_and(|m| count >= m)
            || aggregate.min.is_some_and(|m| count >= m)
            || count >= self.n;
    }

    /// Lists the branches still running as late (their results are dropped) and logs
    /// what the fan-out gathered.
    fn finish(&mut self, msg: &MessageContext, deadline_passed: bool) {
        let mut late = 0;
        for (i, done) in self.done.iter().enumerate().take(self.started) {
            if !done {
                late += 1;
                self.attempts.push(Attempt {
                    endpoint: format!("{}[{i}]", self.label()).into(),
                    outcome: AttemptOutcome::Skipped("late"),
                    via: None,
                });
            }
        }
        self.timed_out = deadline_passed && self.bucket.is_none();
        tracing::info!(
            message_id = %msg.id,
            fan_out = self.label(),
            branches = self.n,
            collected = self.bucket.as_ref().map_or(0, |b| b.parts.len()),
            failed = self.failed,
            dropped = self.dropped,
            late,
            not_started = self.n - self.started,
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
