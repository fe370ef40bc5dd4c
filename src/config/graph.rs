//! Whole-configuration checks that need every artifact parsed: reference cycles and
//! unique endpoint names.

use std::collections::HashMap;

use super::Reference;
use super::{EndpointConfig, EndpointId, EndpointKind, SeqId, SequenceConfig};
use crate::base::diag::Diagnostics;

/// Reports sequences that invoke themselves through `<sequence key>` chains, and endpoints
/// that refer to themselves through `key` chains.
/// Artifacts that failed to parse are `None` and take no part.
pub(crate) fn check_cycles(
    sequences: &[Option<SequenceConfig>],
    endpoints: &[Option<EndpointConfig>],
    diags: &mut Diagnostics,
) {
    check_unique_endpoint_names(endpoints, diags);

    // Sequences: edges are the sequences a sequence's mediators invoke.
    let edges: Vec<Vec<usize>> = sequences
        .iter()
        .map(|s| {
            let mut out = Vec::new();
            for m in s.iter().flat_map(|s| &s.mediators) {
                m.references(&mut |r| {
                    if let Reference::Sequence(SeqId(id)) = r {
                        out.push(id as usize);
                    }
                });
            }
            out
        })
        .collect();
    let name = |i: usize| sequences[i].as_ref().map_or("?", |s| s.name.as_str());
    for (start, path) in find_cycles(edges.len(), |i| edges[i].clone()) {
        let names: Vec<&str> = path.iter().map(|&i| name(i)).collect();
        if let Some(seq) = &sequences[start] {
            diags.error(
                &seq.loc,
                format!("sequence reference cycle: {}", names.join(" -> ")),
            );
        }
    }

    // Endpoints: an alias points at its target.
    let ep_edges: Vec<Vec<usize>> = endpoints
        .iter()
        .map(|slot| match slot.as_ref().map(|ep| &ep.kind) {
            Some(EndpointKind::Alias(EndpointId(t))) => vec![*t as usize],
            Some(EndpointKind::Group(g)) => g.children.iter().map(|c| c.id.0 as usize).collect(),
            _ => Vec::new(),
        })
        .collect();
    let ep_name = |i: usize| endpoints[i].as_ref().map_or("?", |ep| ep.name.as_str());
    for (start, path) in find_cycles(ep_edges.len(), |i| ep_edges[i].clone()) {
        let names: Vec<&str> = path.iter().map(|&i| ep_name(i)).collect();
        if let Some(ep) = &endpoints[start] {
            diags.error(
                &ep.loc,
                format!("endpoint reference cycle: {}", names.join(" -> ")),
            );
        }
    }
}

fn check_unique_endpoint_names(endpoints: &[Option<EndpointConfig>], diags: &mut Diagnostics) {
    let mut seen: HashMap<&str, &EndpointConfig> = HashMap::new();
    for ep in endpoints.iter().flatten() {
        match seen.get(ep.name.as_str()) {
            // Named duplicates were reported when names were collected.
            Some(first) if !(first.named && ep.named) => diags.error(
                &ep.loc,
                format!(
                    "endpoint name `{}` is already used at {}",
                    ep.name, first.loc
                ),
            ),
            Some(_) => {}
            None => {
                seen.insert(&ep.name, ep);
            }
        }
    }
}

/// Finds each elementary cycle once, reported from its smallest node: returns
/// (start, path including the start again at the end).
fn find_cycles(n: usize, edges: impl Fn(usize) -> Vec<usize>) -> Vec<(usize, Vec<usize>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks = vec![Mark::New; n];
    let mut found = Vec::new();
    for root in 0..n {
        if marks[root] != Mark::New {
            continue;
        }
        // Iterative DFS keeping the current path.
        let mut stack: Vec<(usize, Vec<usize>, usize)> = vec![(root, edges(root), 0)];
        let mut path = vec![root];
        marks[root] = Mark::Active;
        while let Some((node, succ, idx)) = stack.last_mut() {
            if *idx < succ.len() {
                let next = succ[*idx];
                *idx += 1;
                match marks[next] {
                    Mark::New => {
                        marks[next] = Mark::Active;
                        path.push(next);
                        let succ = edges(next);
                        stack.push((next, succ, 0));
                    }
                    Mark::Active => {
                        let pos = path.iter().position(|&p| p == next).unwrap_or(0);
                        let mut cycle: Vec<usize> = path[pos..].to_vec();
                        cycle.push(next);
                        found.push((next, cycle));
                    }
                    Mark::Done => {}
                }
            } else {
                marks[*node] = Mark::Done;
                path.pop();
                stack.pop();
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::find_cycles;

    #[test]
    fn finds_self_loops_and_longer_cycles_once() {
        let graph = [vec![1], vec![2], vec![0], vec![3], vec![]];
        let found = find_cycles(5, |i| graph[i].clone());
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].1, vec![0, 1, 2, 0]);
        assert_eq!(found[1].1, vec![3, 3]);
    }

    #[test]
    fn diamonds_are_not_cycles() {
        let graph = [vec![1, 2], vec![3], vec![3], vec![]];
        assert!(find_cycles(4, |i| graph[i].clone()).is_empty());
    }
}
