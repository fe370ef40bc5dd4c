//! The root of the endpoint actors: the registry of one configuration generation.
//!
//! Every leaf and group actor runs under its own actix `Supervisor`, which restarts it
//! when it stops (see [`contain`](super::contain) for panics). The registry is the root
//! above them: it holds the current generation's actors, the groups and the leaves no
//! group contains as the roots of the tree, and answers the health API for all of them, so
//! the management API asks one actor rather than each. A reload installs the new
//! generation; the actors of the old one that the new one does not reuse stop once the
//! last address to them (the old `Endpoints`, this registry) is dropped.

use std::sync::Arc;

use actix::prelude::*;
use futures_util::future::join_all;

use super::Restarts;
use crate::endpoints::group::{GetNodeHealth, NodeReport};

/// One actor of a generation, as the registry knows it.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// The endpoint's name.
    pub(crate) name: Arc<str>,
    /// True for a group, or a leaf that no group contains: a root of the tree.
    pub(crate) root: bool,
    /// Its actor.
    pub(crate) actor: Recipient<GetNodeHealth>,
}

/// Installs the actors of generation `generation`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Install {
    pub(crate) generation: u64,
    pub(crate) members: Vec<Member>,
}

/// Asks for the report of every actor of the current generation, in its order.
#[derive(Debug, Message)]
#[rtype(result = "Vec<NodeReport>")]
pub(crate) struct GetReports;

/// The root actor.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    generation: u64,
    members: Vec<Member>,
    restarts: Restarts,
}

// === impl Registry ===

impl Registry {
    /// Starts the registry on `arbiter`, under a Supervisor.
    pub(crate) fn start(arbiter: &ArbiterHandle) -> Addr<Registry> {
        Supervisor::start_in_arbiter(arbiter, |_| Registry::default())
    }
}

impl Actor for Registry {
    type Context = Context<Self>;
}

impl Supervised for Registry {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        let restarts = self.restarts.record();
        tracing::warn!(restarts, "Actor registry restarted");
    }
}

impl Handler<Install> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Install, _ctx: &mut Self::Context) {
        let roots = msg.members.iter().filter(|m| m.root).count();
        tracing::debug!(
            generation = msg.generation,
            actors = msg.members.len(),
            roots,
            "Actor generation installed"
        );
        self.generation = msg.generation;
        self.members = msg.members;
    }
}

impl Handler<GetReports> for Registry {
    type Result = ResponseFuture<Vec<NodeReport>>;

    fn handle(&mut self, _msg: GetReports, _ctx: &mut Self::Context) -> Self::Result {
        let asks = self
            .members
            .iter()
            .map(|m| NodeReport::ask(&m.actor, &m.name));
        Box::pin(join_all(asks))
    }
}
