//! Endpoints: where messages go, and the actors that own their health.
//!
//! Building a configuration generation starts one [`actor::EndpointActor`] per leaf, under
//! an actix `Supervisor`, on the control-plane arbiter. Sending ([`Endpoints::deliver`])
//! runs on the worker that accepted the request: it asks the leaf's shared [`Health`]
//! whether the backend may be tried, sends, and reports the outcome to the leaf's actor
//! only when the outcome can change the state.
//!
//! - [`state`]: the plain, time-injected health state machine.
//! - [`health`]: the lock-free view of a leaf's state that workers read.
//! - [`actor`]: the actor that owns the machine, and what the health API reports.
//! - [`error`]: the classification of failures and the Synapse error codes.
//! - `address`, `http`: computing the URL and sending with awc.
//! - [`prototype`]: leaves that answer by themselves (mocks), for PROTOTYPED APIs.
//! - `grpc`: sending gRPC calls over HTTP/2 with hyper, and the standard health check
//!   that [`actor`] runs for `<grpc>` leaves with a `<healthCheck>`.
//! - [`group`], `failover`, [`select`], [`session`]: failover and load-balance groups,
//!   their retry loop, their selection algorithms and their session affinity.

pub(crate) mod actor;
pub mod address;
mod addressing;
mod failover;
pub(crate) mod format;
pub(crate) mod group;
pub(crate) mod grpc;
pub mod health;
pub(crate) mod http;
pub mod prototype;
pub mod select;
pub(crate) mod session;
pub mod state;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::{Addr, ArbiterHandle, Supervisor};
use tokio::time::Instant;

use self::actor::{EndpointActor, ErrorRecord, LeafInfo, Report};
use self::health::{Admission, Health};
use self::state::EndpointState;
use crate::base::error::{EndpointError, ErrorKind, ProtocolState, codes};
use crate::base::limits::Limits;
use crate::base::readiness::Readiness;
use crate::config::{Config, EndpointConfig, EndpointId, EndpointKind, LeafSpec, Target};
use crate::message::{AttemptOutcome, MessageContext};

/// The running endpoints of one configuration generation, indexed by [`EndpointId`].
#[derive(Debug)]
pub struct Endpoints {
    nodes: Vec<Node>,
    /// The leaf a bare `<send/>` uses for an allowed `To` address (see [`Endpoints::deliver_to`]).
    implicit: Option<Box<Leaf>>,
}

#[derive(Debug)]
enum Node {
    Alias(EndpointId),
    Leaf(Box<Leaf>),
    Group(Box<group::Group>),
}

/// A running leaf: its configuration, its shared health view and its actor.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// Endpoint name.
    pub(crate) name: Arc<str>,
    /// The configuration it was built from.
    pub(crate) config: EndpointConfig,
    /// The leaf's settings.
    pub(crate) spec: LeafSpec,
    /// Shared health view.
    pub(crate) health: Arc<Health>,
    /// The actor owning the health state.
    pub(crate) addr: Addr<EndpointActor>,
}

/// The outcome reporter for one request: reports exactly once, also when dropped.
struct Ticket<'a> {
    leaf: &'a Leaf,
    trial: bool,
    settled: bool,
}

// === impl Endpoints ===

impl Endpoints {
    /// Starts the actors of every leaf in `config` on `arbiter`. A leaf whose configuration
    /// is unchanged from `previous` keeps its actor and health state.
    pub(crate) fn build(
        config: &Config,
        previous: Option<&Endpoints>,
        arbiter: &ArbiterHandle,
        readiness: &Readiness,
        tls: &Arc<crate::base::tls::BackendTls>,
    ) -> Endpoints {
        let mut nodes = Vec::with_capacity(config.endpoints.len());
        for (_, ep) in config.endpoints() {
            let node = match &ep.kind {
                // Groups start once their children have (below).
                EndpointKind::Group(_) => None,
                EndpointKind::Alias(target) => Some(Node::Alias(*target)),
                EndpointKind::Leaf(spec) => {
                    let reused = previous
                        .and_then(|p| p.leaf_named(&ep.name))
                        .filter(|old| same_leaf(&old.config, ep));
                    Some(match reused {
                        Some(old) => Node::Leaf(Box::new(Leaf {
                            name: old.name.clone(),
                            config: ep.clone(),
                            spec: (**spec).clone(),
                            health: old.health.clone(),
                            addr: old.addr.clone(),
                        })),
                        None => Node::Leaf(Box::new(start_leaf(ep, spec, arbiter, readiness, tls))),
                    })
                }
            };
            nodes.push(node);
        }
        for id in group::build_order(config) {
            let previous = previous.and_then(|p| p.group_named(&config.endpoint(id).name));
            let started = group::Group::start(config, id, &nodes, previous, arbiter, readiness);
            if let Some(slot) = nodes.get_mut(id.0 as usize) {
                *slot = started.map(|g| Node::Group(Box::new(g)));
            }
        }
        let nodes = nodes
            .into_iter()
            .enumerate()
            // Every group was started above; a missing one would be a bug, and resolves
            // to nothing rather than to a wrong endpoint.
            .map(|(i, n)| n.unwrap_or(Node::Alias(EndpointId(i as u32))))
            .collect();
        Endpoints {
            nodes,
            implicit: None,
        }
    }

    /// Adds the leaf of bare `<send/>`s to allowed `To` addresses (kept from `previous`).
    pub(crate) fn with_implicit(
        mut self,
        previous: Option<&Endpoints>,
        arbiter: &ArbiterHandle,
        readiness: &Readiness,
        tls: &Arc<crate::base::tls::BackendTls>,
    ) -> Endpoints {
        let kept = previous.and_then(|p| p.implicit.as_deref()).cloned();
        self.implicit = Some(Box::new(kept.unwrap_or_else(|| {
            let ep = implicit_config();
            let EndpointKind::Leaf(spec) = &ep.kind else {
                unreachable!("the implicit endpoint is a leaf")
            };
            start_leaf(&ep, spec, arbiter, readiness, tls)
        })));
        self
    }

    /// Sends `msg` to `url`, the message's own `To` address, which the allow-list has
    /// admitted: a plain address leaf with the global timeout. No health state is kept
    /// per address (any address could be named), so nothing is suspended.
    ///
    /// # Errors
    /// The classified failure, as for any leaf.
    pub(crate) async fn deliver_to(
        &self,
        url: &str,
        msg: &mut MessageContext,
        limits: &Limits,
    ) -> Result<(), EndpointError> {
        let Some(base) = &self.implicit else {
            return Err(EndpointError::new(
                ErrorKind::NotReady,
                ProtocolState::RequestReady,
                Arc::from(IMPLICIT),
                "no `To` address is allowed (axon serve --allow-to)",
            ));
        };
        // The one implicit leaf, with this message's address.
        let leaf = &**base;
        let result = http::send_via(leaf, Some(url), msg, limits).await;
        let outcome = match &result {
            Ok(()) => AttemptOutcome::Response(msg.status.map(|s| s.as_u16()).unwrap_or(0)),
            Err(error) => {
                tracing::warn!(message_id = %msg.id, endpoint = IMPLICIT, code = error.code(), address = url, error = %error.cause, "Endpoint request failed");
                AttemptOutcome::Failed(error.code())
            }
        };
        msg.record_attempt_via(None, leaf.name.clone(), outcome);
        result
    }

    /// The leaf or group behind `id`, following aliases.
    fn node(&self, mut id: EndpointId) -> Option<&Node> {
        for _ in 0..=self.nodes.len() {
            match self.nodes.get(id.0 as usize)? {
                Node::Alias(target) => id = *target,
                node => return Some(node),
            }
        }
        None
    }

    /// The leaf called `name`.
    pub(crate) fn leaf_named(&self, name: &str) -> Option<&Leaf> {
        self.leaves().find(|l| &*l.name == name)
    }

    /// Every leaf, in id order.
    pub(crate) fn leaves(&self) -> impl Iterator<Item = &Leaf> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Leaf(l) => Some(l.as_ref()),
            _ => None,
        })
    }

    /// Every actor of this generation for the registry, leaves then groups (the order of
    /// the health API): the groups and the leaves no group contains are its roots.
    pub(crate) fn members(&self) -> Vec<actor::registry::Member> {
        let contained: std::collections::HashSet<&str> = self
            .groups()
            .flat_map(|g| g.children.iter().map(|c| &*c.name))
            .collect();
        let member = |name: &Arc<str>, actor| actor::registry::Member {
            name: name.clone(),
            root: !contained.contains(&**name),
            actor,
        };
        let leaves = self
            .leaves()
            .map(|l| member(&l.name, l.addr.clone().recipient()));
        let groups = self
            .groups()
            .map(|g| member(&g.name, g.addr.clone().recipient()));
        leaves.chain(groups).collect()
    }

    /// Sends `msg` through endpoint `id`; on success `msg` has become the response.
    ///
    /// # Errors
    /// The classified failure. A leaf that is not ready fails with code 303001 and
    /// nothing is sent; a group retries on its children (see [`group`]).
    pub(crate) async fn deliver(
        &self,
        id: EndpointId,
        msg: &mut MessageContext,
        limits: &Limits,
    ) -> Result<(), EndpointError> {
        let leaf = match self.node(id) {
            Some(Node::Leaf(leaf)) => leaf,
            Some(Node::Group(group)) => return self.deliver_group(group, msg, limits, None).await,
            _ => {
                return Err(EndpointError::new(
                    ErrorKind::NotReady,
                    ProtocolState::RequestReady,
                    Arc::from("?"),
                    "endpoint is not part of this configuration",
                ));
            }
        };
        self.deliver_leaf(leaf, msg, limits, None).await
    }

    /// Sends `msg` to one leaf (tried through the groups `via`, if any).
    async fn deliver_leaf(
        &self,
        leaf: &Leaf,
        msg: &mut MessageContext,
        limits: &Limits,
        via: Option<&Arc<str>>,
    ) -> Result<(), EndpointError> {
        if let Target::Prototype(_) = &leaf.spec.target
            && let Err(error) = prototype::in_service(leaf, msg)
        {
            let skipped = AttemptOutcome::Skipped("OUT_OF_SERVICE");
            msg.record_attempt_via(via.cloned(), leaf.name.clone(), skipped);
            return Err(error);
        }
        let trial = match leaf.health.admit(Instant::now()) {
            Admission::Go => false,
            Admission::Trial => true,
            Admission::NotReady { state, .. } => {
                let skipped = AttemptOutcome::Skipped(state.as_str());
                msg.record_attempt_via(via.cloned(), leaf.name.clone(), skipped);
                return Err(not_ready(leaf, state));
            }
        };
        let ticket = Ticket {
            leaf,
            trial,
            settled: false,
        };
        let call = leaf.health.sent.fetch_add(1, Ordering::Relaxed) + 1;
        let result = match &leaf.spec.target {
            Target::Prototype(spec) => prototype::answer(spec, leaf, msg, limits, call).await,
            Target::Grpc(spec) => grpc::send(leaf, spec, msg, limits).await,
            _ => http::send(leaf, msg, limits).await,
        };
        match &result {
            Ok(()) => {
                let status = msg.status.map(|s| s.as_u16()).unwrap_or(0);
                let outcome = AttemptOutcome::Response(status);
                msg.record_attempt_via(via.cloned(), leaf.name.clone(), outcome);
                ticket.success();
            }
            Err(error) => {
                crate::base::metrics::global().endpoint_failure(&leaf.name, error.code());
                let outcome = AttemptOutcome::Failed(error.code());
                msg.record_attempt_via(via.cloned(), leaf.name.clone(), outcome);
                // A prototype's own outcomes are programmed: they never change its health.
                let prototype = matches!(leaf.spec.target, Target::Prototype(_));
                if error.counts_against_endpoint() && !prototype {
                    tracing::warn!(message_id = %msg.id, endpoint = %leaf.name, code = error.code(), address = error.address.as_deref().unwrap_or(""), error = %error.cause, "Endpoint request failed");
                    ticket.failure(error, msg.id.clone());
                } else {
                    ticket.neutral();
                }
            }
        }
        tracing::debug!(
            message_id = %msg.id,
            endpoint = %leaf.name,
            via = via.map(|v| &**v),
            outcome = msg.attempts.last().map(|a| tracing::field::display(&a.outcome)),
            "Endpoint tried"
        );
        result
    }
}

/// The name of the implicit `To` endpoint (health API, logs, error details).
const IMPLICIT: &str = "implicit-To";

fn implicit_config() -> EndpointConfig {
    let spec = LeafSpec::plain(Target::Address(crate::config::AddressSpec {
        uri: String::new(),
        member: false,
    }));
    EndpointConfig {
        name: IMPLICIT.to_owned(),
        named: false,
        kind: EndpointKind::Leaf(Box::new(spec)),
        on_error: None,
        properties: Vec::new(),
        loc: crate::base::diag::Loc::file_start(Arc::from("<implicit To>")),
    }
}

fn same_leaf(old: &EndpointConfig, new: &EndpointConfig) -> bool {
    old.kind == new.kind && old.properties == new.properties && old.name == new.name
}

fn start_leaf(
    ep: &EndpointConfig,
    spec: &LeafSpec,
    arbiter: &ArbiterHandle,
    readiness: &Readiness,
    tls: &Arc<crate::base::tls::BackendTls>,
) -> Leaf {
    let health = Arc::new(Health::new());
    let (kind, address) = match &spec.target {
        Target::Address(a) => ("address", a.uri.clone()),
        Target::Http(h) => ("http", h.template_source.clone()),
        Target::Wsdl(w) => ("wsdl", w.address.uri.clone()),
        Target::Prototype(p) => ("prototype", p.describe()),
        Target::Grpc(g) => ("grpc", g.uri.clone()),
    };
    let info = LeafInfo {
        name: ep.name.clone(),
        kind,
        address,
    };
    let actor_health = health.clone();
    let policy = spec.suspension.clone();
    readiness.actor_expected();
    let latch = readiness.clone();
    let addr = Supervisor::start_in_arbiter(arbiter, move |_| {
        EndpointActor::new(info, actor_health, policy, Some(latch))
    });
    if let Some(check) = &spec.health_check {
        let name = Arc::from(ep.name.as_str());
        let probe = actor::probe::Probe::new(spec, check.clone(), tls);
        actor::probe::start(arbiter, addr.downgrade(), probe, name);
    }
    Leaf {
        name: Arc::from(ep.name.as_str()),
        config: ep.clone(),
        spec: spec.clone(),
        health,
        addr,
    }
}

fn not_ready(leaf: &Leaf, state: EndpointState) -> EndpointError {
    let kind = match &leaf.spec.target {
        Target::Address(_) => "Address",
        Target::Http(_) => "HTTP",
        Target::Wsdl(_) => "WSDL",
        Target::Prototype(_) => "Prototype",
        Target::Grpc(_) => "gRPC",
    };
    not_ready_because(
        leaf,
        format!(
            "Currently, {kind} endpoint : [ Name : {} ] [ State : {state} ]",
            leaf.name
        ),
    )
}

/// The failure of a root leaf that is not ready (303001; 303002 for a WSDL leaf), with
/// `detail` saying why.
pub(crate) fn not_ready_because(leaf: &Leaf, detail: String) -> EndpointError {
    let code = match &leaf.spec.target {
        Target::Wsdl(_) => codes::WSDL_NOT_READY,
        _ => codes::LEAF_NOT_READY,
    };
    EndpointError::with_code(
        ErrorKind::NotReady,
        ProtocolState::RequestReady,
        leaf.name.clone(),
        detail,
        code,
    )
}

// === impl Ticket ===

impl Ticket<'_> {
    fn success(mut self) {
        self.settled = true;
        self.leaf.health.succeeded.fetch_add(1, Ordering::Relaxed);
        // While ACTIVE a success changes nothing, so the actor is not bothered.
        if self.trial || self.leaf.health.state() != EndpointState::Active {
            self.leaf
                .addr
                .do_send(Report::Success { trial: self.trial });
        }
    }

    fn failure(mut self, error: &EndpointError, message: crate::message::MessageId) {
        self.settled = true;
        self.leaf.health.failed.fetch_add(1, Ordering::Relaxed);
        let mut error = ErrorRecord::from(error);
        error.message_id = Some(message.to_string());
        self.leaf.addr.do_send(Report::Failure {
            trial: self.trial,
            error,
        });
    }

    fn neutral(mut self) {
        self.settled = true;
        if self.trial {
            self.leaf.addr.do_send(Report::Abandoned { trial: true });
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.settled && self.trial {
            self.leaf.addr.do_send(Report::Abandoned { trial: true });
        }
    }
}
