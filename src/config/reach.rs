//! Which endpoints each API can reach, for the rule that a prototype endpoint serves only
//! PROTOTYPED APIs (reference §6: validated at load, a deliberate tightening of WSO2).
//!
//! The walk starts from every flow that can run for a request: an API resource's in-, out-
//! and fault sequence (the global `fault` sequence when the resource has none), and, outside
//! any API, a proxy service's flows and target endpoint, `main` and the dispatch handlers
//! (`_resource_mismatch_handler_`, `_method_not_allowed_handler_`), whose failures go to
//! `fault`. It follows mediator
//! references (`Mediator::references`: sequence calls, sends, `receive` sequences), sequence
//! and endpoint `onError` handlers, and endpoint `key` aliases.

use std::collections::{HashMap, VecDeque};

use super::Reference;
use super::{
    ApiConfig, EndpointConfig, EndpointId, EndpointKind, ProxyConfig, SeqId, SequenceConfig, Target,
};
use crate::base::diag::Diagnostics;
use crate::base::lifecycle::Lifecycle;

/// Sequences that run for requests without being part of one API.
const GLOBAL_ROOTS: &[&str] = &[
    "main",
    "_resource_mismatch_handler_",
    "_method_not_allowed_handler_",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Node {
    Seq(SeqId),
    Ep(EndpointId),
}

struct Graph<'a> {
    sequences: &'a [Option<SequenceConfig>],
    endpoints: &'a [Option<EndpointConfig>],
}

/// Reports every API that is not PROTOTYPED yet reaches a prototype endpoint, and every
/// prototype endpoint reachable from outside any API.
pub(crate) fn check_prototypes(
    apis: &[ApiConfig],
    proxies: &[ProxyConfig],
    sequences: &[Option<SequenceConfig>],
    endpoints: &[Option<EndpointConfig>],
    sequence_names: &HashMap<String, SeqId>,
    diags: &mut Diagnostics,
) {
    let any_prototype = endpoints.iter().flatten().any(is_prototype);
    if !any_prototype {
        return;
    }
    let graph = Graph {
        sequences,
        endpoints,
    };
    let fault = sequence_names.get("fault").copied();
    check_apis(&graph, apis, fault, diags);
    check_proxies(&graph, proxies, fault, diags);
    check_global_sequences(&graph, sequence_names, fault, diags);
}

/// Every API that is not PROTOTYPED: its resources' flows must not reach a prototype.
fn check_apis(
    graph: &Graph<'_>,
    apis: &[ApiConfig],
    fault: Option<SeqId>,
    diags: &mut Diagnostics,
) {
    for api in apis {
        if api.lifecycle == Lifecycle::Prototyped {
            continue;
        }
        let mut reported: Vec<EndpointId> = Vec::new();
        for resource in &api.resources {
            let flows = [
                ("in-sequence", resource.in_sequence),
                ("out-sequence", resource.out_sequence),
                ("fault sequence", resource.fault_sequence.or(fault)),
            ];
            for (flow, start) in flows {
                let Some(start) = start else { continue };
                for (ep, path) in graph.new_prototypes(Node::Seq(start), flow, &mut reported) {
                    let endpoint = graph.endpoint_label(ep);
                    diags.error(
                        &api.lifecycle_loc,
                        format!(
                            "API `{}` is {} but its resource `{}` reaches {endpoint} ({path}); \
                             a prototype endpoint serves only APIs in the PROTOTYPED lifecycle \
                             state: set lifecycle=\"PROTOTYPED\" on the API or send to another endpoint",
                            api.name, api.lifecycle, resource.name
                        ),
                    );
                }
            }
        }
    }
}

/// Proxy services have no lifecycle: none may reach a prototype.
fn check_proxies(
    graph: &Graph<'_>,
    proxies: &[ProxyConfig],
    fault: Option<SeqId>,
    diags: &mut Diagnostics,
) {
    for proxy in proxies {
        let flows = [
            ("in-sequence", Some(Node::Seq(proxy.in_sequence))),
            ("out-sequence", proxy.out_sequence.map(Node::Seq)),
            (
                "fault sequence",
                proxy.fault_sequence.or(fault).map(Node::Seq),
            ),
            ("target", proxy.endpoint.map(Node::Ep)),
        ];
        let mut reported: Vec<EndpointId> = Vec::new();
        for (flow, start) in flows {
            let Some(start) = start else { continue };
            for (ep, path) in graph.new_prototypes(start, flow, &mut reported) {
                diags.error(
                    &proxy.loc,
                    format!(
                        "proxy service `{}` reaches {} ({path}), but a proxy service has no \
                         lifecycle state; a prototype endpoint serves only the resources of \
                         PROTOTYPED APIs",
                        proxy.name,
                        graph.endpoint_label(ep)
                    ),
                );
            }
        }
    }
}

/// The sequences that run outside any one API (`main`, and `fault` with it) must not reach
/// a prototype.
fn check_global_sequences(
    graph: &Graph<'_>,
    sequence_names: &HashMap<String, SeqId>,
    fault: Option<SeqId>,
    diags: &mut Diagnostics,
) {
    let globals: Vec<(&str, SeqId)> = GLOBAL_ROOTS
        .iter()
        .filter_map(|name| sequence_names.get(*name).map(|id| (*name, *id)))
        .collect();
    let mut roots = globals.clone();
    if !globals.is_empty()
        && let Some(fault) = fault
    {
        roots.push(("fault", fault));
    }
    let mut reported: Vec<EndpointId> = Vec::new();
    for (name, start) in roots {
        for (ep, path) in graph.new_prototypes(Node::Seq(start), "sequence", &mut reported) {
            let Some(seq) = graph.sequence(start) else {
                continue;
            };
            diags.error(
                &seq.loc,
                format!(
                    "sequence `{name}` reaches {} ({path}), but `{name}` runs for requests \
                     outside any one API; a prototype endpoint serves only the resources of \
                     PROTOTYPED APIs",
                    graph.endpoint_label(ep)
                ),
            );
        }
    }
}

fn is_prototype(ep: &EndpointConfig) -> bool {
    matches!(&ep.kind, EndpointKind::Leaf(leaf) if matches!(leaf.target, Target::Prototype(_)))
}

// === impl Graph ===

impl Graph<'_> {
    fn sequence(&self, id: SeqId) -> Option<&SequenceConfig> {
        self.sequences.get(id.0 as usize).and_then(Option::as_ref)
    }

    fn endpoint(&self, id: EndpointId) -> Option<&EndpointConfig> {
        self.endpoints.get(id.0 as usize).and_then(Option::as_ref)
    }

    fn endpoint_label(&self, id: EndpointId) -> String {
        match self.endpoint(id) {
            Some(ep) => format!("prototype endpoint `{}` (defined at {})", ep.name, ep.loc),
            None => "a prototype endpoint".to_owned(),
        }
    }

    fn successors(&self, node: Node) -> Vec<Node> {
        let mut out = Vec::new();
        match node {
            Node::Seq(id) => {
                let Some(seq) = self.sequence(id) else {
                    return out;
                };
                for m in &seq.mediators {
                    m.references(&mut |r| match r {
                        Reference::Sequence(s) | Reference::Receive(s) => out.push(Node::Seq(s)),
                        Reference::Endpoint(ep) => out.push(Node::Ep(ep)),
                    });
                }
                out.extend(seq.on_error.map(Node::Seq));
            }
            Node::Ep(id) => {
                let Some(ep) = self.endpoint(id) else {
                    return out;
                };
                out.extend(ep.on_error.map(Node::Seq));
                match &ep.kind {
                    EndpointKind::Alias(target) => out.push(Node::Ep(*target)),
                    EndpointKind::Leaf(_) => {}
                    EndpointKind::Group(g) => out.extend(g.children.iter().map(|c| Node::Ep(c.id))),
                }
            }
        }
        out
    }

    /// The prototype endpoints reachable from `start`, each with the way it is reached.
    /// The prototypes reachable from `root` that are not in `reported` yet, each with its
    /// path; they are added to `reported`, so each is reported once per owner.
    fn new_prototypes(
        &self,
        root: Node,
        flow: &str,
        reported: &mut Vec<EndpointId>,
    ) -> Vec<(EndpointId, String)> {
        let mut out = self.prototypes_from(root, flow);
        out.retain(|(ep, _)| {
            let new = !reported.contains(ep);
            if new {
                reported.push(*ep);
            }
            new
        });
        out
    }

    fn prototypes_from(&self, root: Node, flow: &str) -> Vec<(EndpointId, String)> {
        let mut parent: HashMap<Node, Node> = HashMap::new();
        let mut queue = VecDeque::from([root]);
        let mut found = Vec::new();
        parent.insert(root, root);
        while let Some(node) = queue.pop_front() {
            if let Node::Ep(id) = node
                && self.endpoint(id).is_some_and(is_prototype)
            {
                found.push((id, self.path(&parent, node, flow)));
            }
            for next in self.successors(node) {
                if let std::collections::hash_map::Entry::Vacant(slot) = parent.entry(next) {
                    slot.insert(node);
                    queue.push_back(next);
                }
            }
        }
        found
    }

    fn path(&self, parent: &HashMap<Node, Node>, mut node: Node, flow: &str) -> String {
        let mut hops = Vec::new();
        loop {
            let label = match node {
                Node::Seq(id) => match self.sequence(id) {
                    Some(s) if s.named => format!("sequence `{}`", s.name),
                    _ => flow.to_owned(),
                },
                Node::Ep(id) => match self.endpoint(id) {
                    Some(ep) => format!("endpoint `{}`", ep.name),
                    None => "endpoint".to_owned(),
                },
            };
            hops.push(label);
            match parent.get(&node) {
                Some(&p) if p != node => node = p,
                _ => break,
            }
        }
        hops.reverse();
        hops.join(" -> ")
    }
}
