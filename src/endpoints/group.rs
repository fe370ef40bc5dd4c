//! Failover and load-balance groups at run time: the [`Group`] workers route through, and
//! the [`GroupActor`] that supervises the group's children and reports on them.
//!
//! The split follows the leaves': what every request needs (which children are ready,
//! the selection state, requests in flight, sessions) is shared memory reached without a
//! mailbox ([`GroupState`], the children's [`super::Health`] words); the actor owns what is
//! not on the request path: the children's actor addresses, the health report that nests
//! them, and the periodic purge of expired sessions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::join_all;
use serde::Serialize;
use tokio::time::Instant;

use super::actor::{HealthReport, Restarts, contain};
use super::failover::plan::{Rules, group_state};
use super::select::{Selector, SmoothWeighted};
use super::session::SessionTable;
use super::state::{Admission, EndpointState, admit};
use super::{Endpoints, Node};
use crate::base::readiness::Readiness;
use crate::config::{
    Algorithm, Config, EndpointConfig, EndpointFormat, EndpointId, EndpointKind, GroupSpec,
    SessionKind, Strategy, Target,
};

/// A running group.
#[derive(Debug)]
pub(crate) struct Group {
    /// Endpoint name.
    pub(crate) name: Arc<str>,
    /// The configuration it was built from.
    pub(crate) config: EndpointConfig,
    /// The group's settings.
    pub(crate) spec: GroupSpec,
    /// The children, in declaration order.
    pub(crate) children: Vec<Child>,
    /// Child weights, in the same order (1 unless `loadbalance.weight` says otherwise).
    pub(crate) weights: Vec<u32>,
    /// Selection state, requests in flight and sessions; kept across reloads while the
    /// group's configuration is unchanged.
    pub(crate) state: Arc<GroupState>,
    /// The actor supervising the children.
    pub(crate) addr: Addr<GroupActor>,
    /// True when a try may change the request (endpoint properties, converting formats or
    /// prototypes below the group, or failover on response statuses), so each retry
    /// restores a snapshot first.
    pub(crate) needs_snapshot: bool,
    /// True when a message may be sent to a second child.
    pub(crate) can_retry: bool,
    signature: String,
    // Dropped with the configuration generation; the actor stops when it is the last
    // holder.
    _lifeline: Arc<()>,
}

/// One child of a running group.
#[derive(Debug, Clone)]
pub(crate) struct Child {
    /// The endpoint doing the work (aliases followed).
    pub(crate) id: EndpointId,
    /// Its name.
    pub(crate) name: Arc<str>,
}

/// What workers share for one group.
#[derive(Debug)]
pub(crate) struct GroupState {
    /// The algorithm's state (cursors, weighted counters).
    pub(crate) selector: Selector,
    /// Requests in flight per child, until their response body is done.
    pub(crate) in_flight: Vec<AtomicU64>,
    /// Session affinity, when configured.
    pub(crate) sessions: Option<SessionTable>,
}

/// Holds one request in flight on a child; released when dropped.
#[derive(Debug)]
pub(crate) struct InFlight {
    state: Arc<GroupState>,
    child: usize,
}

/// Asks a group actor for its report, children nested (`None` when the handler failed).
#[derive(Debug, Message)]
#[rtype(result = "Option<GroupReport>")]
pub(crate) struct GetGroupHealth;

/// Asks any actor of the graph, leaf or group, for its report: the one message a group
/// sends its children, which it holds as `Recipient`s of it.
#[derive(Debug, Message)]
#[rtype(result = "Option<NodeReport>")]
pub(crate) struct GetNodeHealth;

/// What the health API shows for a group.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GroupReport {
    /// Endpoint name.
    pub(crate) name: String,
    /// `failover` or `loadbalance`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// ACTIVE while any child is ready; OFF when every child is OFF; else SUSPENDED.
    pub(crate) state: EndpointState,
    /// `priority` or `sticky` (failover); `roundRobin`, `weightedRoundRobin` or
    /// `leastConnections` (load balance).
    pub(crate) algorithm: &'static str,
    /// Load balance only: whether a failed message goes to another child.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) failover: Option<bool>,
    /// Session affinity, if configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) session: Option<SessionReport>,
    /// Children that may take a message now.
    pub(crate) ready_children: usize,
    /// How many times the supervisor restarted this actor.
    pub(crate) restarts: u32,
    /// When it last did (RFC 3339).
    pub(crate) last_restart: Option<String>,
    /// The children, in declaration order.
    pub(crate) children: Vec<ChildReport>,
}

/// Session affinity in a group report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SessionReport {
    /// `http` or `simpleClientSession`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// Lifetime after the last message.
    pub(crate) timeout_ms: u64,
    /// Sessions remembered.
    pub(crate) sessions: usize,
}

/// One child in a group report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ChildReport {
    /// The child's own report.
    #[serde(flatten)]
    pub(crate) node: NodeReport,
    /// Its weight in the group.
    pub(crate) weight: u32,
    /// Requests of this group in flight on it.
    pub(crate) in_flight: u64,
}

/// A leaf's or a nested group's report.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum NodeReport {
    /// A leaf.
    Leaf(Box<HealthReport>),
    /// A nested group.
    Group(Box<GroupReport>),
    /// An actor that did not answer.
    Unknown {
        /// Its name.
        name: String,
        /// Always `UNKNOWN`.
        state: &'static str,
    },
}

/// Static facts about the group, for reports.
#[derive(Debug, Clone)]
struct GroupInfo {
    name: String,
    kind: &'static str,
    algorithm: &'static str,
    failover: Option<bool>,
}

/// The actor of one group: holds its children's addresses and reports on them.
#[derive(Debug)]
pub(crate) struct GroupActor {
    info: GroupInfo,
    children: Vec<ChildActor>,
    state: Arc<GroupState>,
    lifeline: Arc<()>,
    restarts: Restarts,
    readiness: Option<Readiness>,
}

// === impl Group ===

impl Group {
    /// Starts the group `id` of `config`, whose children are already in `nodes`. Its
    /// selection state and sessions are taken over from `previous` when that group's
    /// configuration is the same.
    pub(super) fn start(
        config: &Config,
        id: EndpointId,
        nodes: &[Option<Node>],
        previous: Option<&Group>,
        arbiter: &ArbiterHandle,
        readiness: &Readiness,
    ) -> Option<Group> {
        let ep = config.endpoint(id);
        let EndpointKind::Group(spec) = &ep.kind else {
            return None;
        };
        let (children, weights, actors) = children_of(config, spec, nodes)?;
        let signature = signature(spec, &actors);
        let state = match previous.filter(|p| p.signature == signature) {
            Some(p) => p.state.clone(),
            None => Arc::new(GroupState::new(spec, children.len())),
        };
        let lifeline = Arc::new(());
        let info = GroupInfo::of(ep, spec);
        let actor = GroupActor::new(info, actors, state.clone(), lifeline.clone());
        let addr = actor.supervised(arbiter, readiness);
        let can_retry =
            children.len() > 1 && spec.policy.max_retries != Some(0) && Rules::of(spec).failover;
        Some(Group {
            name: Arc::from(ep.name.as_str()),
            config: ep.clone(),
            spec: (**spec).clone(),
            children,
            weights,
            state,
            addr,
            needs_snapshot: !spec.policy.http_status_codes.is_empty()
                || subtree_changes_request(config, id, 0),
            can_retry,
            signature,
            _lifeline: lifeline,
        })
    }

    /// Marks a request in flight on child `i` until the returned guard is dropped.
    pub(crate) fn enter(&self, i: usize) -> InFlight {
        if let Some(n) = self.state.in_flight.get(i) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        InFlight {
            state: self.state.clone(),
            child: i,
        }
    }

    /// Requests in flight on child `i`.
    pub(crate) fn load(&self, i: usize) -> u64 {
        self.state
            .in_flight
            .get(i)
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }
}

/// A child's actor as its group holds it: name, recipient of the report ask, weight.
type ChildActor = (Arc<str>, Recipient<GetNodeHealth>, u32);

/// The children of the group `spec` (aliases followed), their weights and their actors,
/// which `nodes` already holds (`None` if one is missing).
fn children_of(
    config: &Config,
    spec: &GroupSpec,
    nodes: &[Option<Node>],
) -> Option<(Vec<Child>, Vec<u32>, Vec<ChildActor>)> {
    let n = spec.children.len();
    let (mut children, mut weights, mut actors) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for c in &spec.children {
        let target = config.resolve_endpoint(c.id);
        let name: Arc<str> = Arc::from(config.endpoint(target).name.as_str());
        let weight = c
            .weight
            .or_else(|| weight_property(config.endpoint(c.id)))
            .or_else(|| weight_property(config.endpoint(target)))
            .unwrap_or(1);
        let actor = match nodes.get(target.0 as usize)?.as_ref()? {
            Node::Leaf(leaf) => leaf.addr.clone().recipient(),
            Node::Group(group) => group.addr.clone().recipient(),
            Node::Alias(_) => return None,
        };
        actors.push((name.clone(), actor, weight));
        children.push(Child { id: target, name });
        weights.push(weight);
    }
    Some((children, weights, actors))
}

/// What must be equal for a reloaded group to keep its selection state and sessions.
fn signature(spec: &GroupSpec, actors: &[ChildActor]) -> String {
    let children: Vec<_> = actors.iter().map(|(n, _, w)| (n.as_ref(), *w)).collect();
    format!(
        "{:?}|{:?}|{}|{:?}",
        spec.strategy, spec.policy, spec.build_message, children
    )
}

/// Groups in an order where every group comes after the groups it contains.
pub(super) fn build_order(config: &Config) -> Vec<EndpointId> {
    fn visit(config: &Config, id: EndpointId, done: &mut [bool], out: &mut Vec<EndpointId>) {
        let i = id.0 as usize;
        if done.get(i).copied().unwrap_or(true) {
            return;
        }
        done[i] = true;
        match &config.endpoint(id).kind {
            EndpointKind::Group(spec) => {
                for c in &spec.children {
                    visit(config, c.id, done, out);
                }
                out.push(id);
            }
            EndpointKind::Alias(target) => visit(config, *target, done, out),
            _ => {}
        }
    }
    let mut done = vec![false; config.endpoints.len()];
    let mut out = Vec::new();
    for (id, _) in config.endpoints() {
        visit(config, id, &mut done, &mut out);
    }
    out
}

fn weight_property(ep: &EndpointConfig) -> Option<u32> {
    ep.properties
        .iter()
        .find(|p| p.name == crate::config::WEIGHT_PROPERTY)
        .and_then(|p| p.value.trim().parse().ok())
}

/// True when sending through some endpoint below `id` may change the request: it has
/// `<property>` children (which sending applies to the message), a `format` that converts
/// the message, or it is a prototype (which answers from the message itself).
fn subtree_changes_request(config: &Config, id: EndpointId, depth: usize) -> bool {
    // Cycles were rejected at load; the depth bound is a guard.
    if depth > config.endpoints.len() {
        return false;
    }
    let ep = config.endpoint(id);
    let own = depth > 0
        && ep
            .properties
            .iter()
            .any(|p| p.name != crate::config::WEIGHT_PROPERTY);
    own || match &ep.kind {
        EndpointKind::Alias(target) => subtree_changes_request(config, *target, depth + 1),
        EndpointKind::Group(spec) => spec
            .children
            .iter()
            .any(|c| subtree_changes_request(config, c.id, depth + 1)),
        EndpointKind::Leaf(leaf) => {
            leaf.format.is_some_and(|f| f != EndpointFormat::Rest)
                || matches!(leaf.target, Target::Prototype(_))
        }
    }
}

fn kind_name(spec: &GroupSpec) -> &'static str {
    match spec.strategy {
        Strategy::Failover { .. } => "failover",
        Strategy::Loadbalance { .. } => "loadbalance",
    }
}

fn algorithm_name(spec: &GroupSpec) -> &'static str {
    match &spec.strategy {
        Strategy::Failover { dynamic: true } => "priority",
        Strategy::Failover { dynamic: false } => "sticky",
        Strategy::Loadbalance { algorithm, .. } => algorithm.as_str(),
    }
}

// === impl GroupInfo ===

impl GroupInfo {
    fn of(ep: &EndpointConfig, spec: &GroupSpec) -> Self {
        GroupInfo {
            name: ep.name.clone(),
            kind: kind_name(spec),
            algorithm: algorithm_name(spec),
            failover: match &spec.strategy {
                Strategy::Loadbalance { failover, .. } => Some(*failover),
                Strategy::Failover { .. } => None,
            },
        }
    }
}

// === impl GroupState ===

impl GroupState {
    fn new(spec: &GroupSpec, n: usize) -> Self {
        let selector = match &spec.strategy {
            Strategy::Failover { dynamic: true } => Selector::Priority,
            Strategy::Failover { dynamic: false } => Selector::Sticky(AtomicUsize::new(0)),
            Strategy::Loadbalance { algorithm, .. } => match algorithm {
                Algorithm::RoundRobin => Selector::RoundRobin(AtomicUsize::new(0)),
                Algorithm::WeightedRoundRobin => {
                    Selector::Weighted(std::sync::Mutex::new(SmoothWeighted::new(n)))
                }
                Algorithm::LeastConnections => Selector::LeastConnections(AtomicUsize::new(0)),
            },
        };
        let sessions = match &spec.strategy {
            Strategy::Loadbalance {
                session: Some(s), ..
            } => Some(SessionTable::new(s)),
            _ => None,
        };
        GroupState {
            selector,
            in_flight: (0..n).map(|_| AtomicU64::new(0)).collect(),
            sessions,
        }
    }
}

// === impl InFlight ===

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(n) = self.state.in_flight.get(self.child) {
            n.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

// === impl Endpoints (groups) ===

impl Endpoints {
    /// The group called `name`.
    pub(crate) fn group_named(&self, name: &str) -> Option<&Group> {
        self.groups().find(|g| &*g.name == name)
    }

    /// Every group, in id order.
    pub(crate) fn groups(&self) -> impl Iterator<Item = &Group> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Group(g) => Some(g.as_ref()),
            _ => None,
        })
    }
}

// === impl NodeReport ===

impl NodeReport {
    /// Whether this child may take a message now, as far as its report tells ([`admit`]).
    fn ready(&self) -> bool {
        match self {
            NodeReport::Leaf(r) => {
                let wait = Duration::from_millis(r.retry_in_ms.unwrap_or(0));
                !matches!(
                    admit(r.state, wait, r.trial_in_flight),
                    Admission::NotReady { .. }
                )
            }
            NodeReport::Group(g) => g.state == EndpointState::Active,
            NodeReport::Unknown { .. } => false,
        }
    }

    /// Asks `actor` for its report: `Unknown` when it does not answer.
    pub(crate) fn ask(
        actor: &Recipient<GetNodeHealth>,
        name: &str,
    ) -> impl Future<Output = NodeReport> + 'static {
        let ask = actor.send(GetNodeHealth);
        let name = name.to_owned();
        async move {
            let unknown = || NodeReport::Unknown {
                name,
                state: "UNKNOWN",
            };
            ask.await.ok().flatten().unwrap_or_else(unknown)
        }
    }

    fn state(&self) -> EndpointState {
        match self {
            NodeReport::Leaf(r) => r.state,
            NodeReport::Group(g) => g.state,
            NodeReport::Unknown { .. } => EndpointState::Suspended,
        }
    }
}

// === impl GroupActor ===

impl GroupActor {
    fn new(
        info: GroupInfo,
        children: Vec<ChildActor>,
        state: Arc<GroupState>,
        lifeline: Arc<()>,
    ) -> Self {
        GroupActor {
            info,
            children,
            state,
            lifeline,
            restarts: Restarts::default(),
            readiness: None,
        }
    }

    /// Starts the actor under a Supervisor on `arbiter`; `readiness` waits for it.
    fn supervised(mut self, arbiter: &ArbiterHandle, readiness: &Readiness) -> Addr<GroupActor> {
        readiness.actor_expected();
        self.readiness = Some(readiness.clone());
        Supervisor::start_in_arbiter(arbiter, move |_| self)
    }

    fn report(&self, children: Vec<NodeReport>) -> GroupReport {
        let ready_children = children.iter().filter(|c| c.ready()).count();
        let state = group_state(children.iter().map(|c| (c.ready(), c.state())));
        let session = self.state.sessions.as_ref().map(|s| SessionReport {
            kind: match s.kind() {
                SessionKind::Http => "http",
                SessionKind::ClientId => "simpleClientSession",
            },
            timeout_ms: s.timeout().as_millis() as u64,
            sessions: s.len(),
        });
        let children = children
            .into_iter()
            .zip(&self.children)
            .enumerate()
            .map(|(i, (node, (_, _, weight)))| ChildReport {
                node,
                weight: *weight,
                in_flight: self
                    .state
                    .in_flight
                    .get(i)
                    .map_or(0, |n| n.load(Ordering::Relaxed)),
            })
            .collect();
        GroupReport {
            name: self.info.name.clone(),
            kind: self.info.kind,
            state,
            algorithm: self.info.algorithm,
            failover: self.info.failover,
            session,
            ready_children,
            restarts: self.restarts.count,
            last_restart: self.restarts.last.clone(),
            children,
        }
    }
}

impl Actor for GroupActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(sessions) = &self.state.sessions {
            let every =
                (sessions.timeout() / 2).clamp(Duration::from_millis(100), Duration::from_secs(60));
            ctx.run_interval(every, |act, ctx| {
                // The last holder of the lifeline: this generation is gone.
                if Arc::strong_count(&act.lifeline) <= 1 {
                    ctx.stop();
                    return;
                }
                let name = act.info.name.clone();
                contain(act, ctx, &name, |act, _| {
                    if let Some(sessions) = &act.state.sessions {
                        sessions.purge(Instant::now());
                    }
                });
            });
        }
        if let Some(readiness) = self.readiness.take() {
            readiness.actor_started();
        }
        tracing::debug!(group = %self.info.name, children = self.children.len(), "Group actor started");
    }
}

impl Supervised for GroupActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // The children's recipients are fields, which the Supervisor keeps.
        let restarts = self.restarts.record();
        tracing::warn!(group = %self.info.name, restarts, "Group actor restarted");
    }
}

impl GroupActor {
    /// Asks every child for its report, and nests them in the group's.
    fn ask_children(&mut self) -> ResponseActFuture<Self, Option<GroupReport>> {
        let asks = self
            .children
            .iter()
            .map(|(name, addr, _)| NodeReport::ask(addr, name));
        Box::pin(join_all(asks).into_actor(self).map(|children, act, ctx| {
            let name = act.info.name.clone();
            contain(act, ctx, &name, |act, _| act.report(children))
        }))
    }
}

impl Handler<GetGroupHealth> for GroupActor {
    type Result = ResponseActFuture<Self, Option<GroupReport>>;

    fn handle(&mut self, _msg: GetGroupHealth, _ctx: &mut Self::Context) -> Self::Result {
        self.ask_children()
    }
}

impl Handler<GetNodeHealth> for GroupActor {
    type Result = ResponseActFuture<Self, Option<NodeReport>>;

    fn handle(&mut self, _msg: GetNodeHealth, _ctx: &mut Self::Context) -> Self::Result {
        Box::pin(
            self.ask_children()
                .map(|report, _, _| report.map(|r| NodeReport::Group(Box::new(r)))),
        )
    }
}

#[cfg(feature = "test-hooks")]
impl Handler<super::actor::Panic> for GroupActor {
    type Result = ();

    fn handle(&mut self, _msg: super::actor::Panic, ctx: &mut Self::Context) {
        let name = self.info.name.clone();
        contain(self, ctx, &name, |act, _| {
            panic!("test hook: group actor `{}` panics", act.info.name)
        });
    }
}
