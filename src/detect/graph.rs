//! The `depends-on` graph: cycles, and which services a change pulls in.

use crate::config::model::Dependents;
use std::collections::{BTreeMap, VecDeque};

/// Services as nodes, `depends-on` as edges (by index).
#[derive(Debug, Clone)]
pub struct DependencyGraph {
    names: Vec<String>,
    /// `depends_on[i]`: the services `i` depends on.
    depends_on: Vec<Vec<usize>>,
    /// `dependents[i]`: the services that depend on `i`.
    dependents: Vec<Vec<usize>>,
}

impl DependencyGraph {
    /// `edges[i]` lists the indices service `i` depends on.
    pub fn new(names: Vec<String>, edges: Vec<Vec<usize>>) -> Self {
        let mut dependents = vec![Vec::new(); names.len()];
        for (from, targets) in edges.iter().enumerate() {
            for &to in targets {
                if !dependents[to].contains(&from) {
                    dependents[to].push(from);
                }
            }
        }
        DependencyGraph {
            names,
            depends_on: edges,
            dependents,
        }
    }

    pub fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    /// The first cycle found, as service indices where the last depends on the first
    /// (`[a, b, c]` means a → b → c → a).
    pub fn find_cycle(&self) -> Option<Vec<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            New,
            Active,
            Done,
        }
        let mut state = vec![State::New; self.names.len()];
        for start in 0..self.names.len() {
            if state[start] != State::New {
                continue;
            }
            // Iterative DFS keeping the active path.
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = State::Active;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&target) = self.depends_on[node].get(*next) {
                    *next += 1;
                    match state[target] {
                        State::New => {
                            state[target] = State::Active;
                            stack.push((target, 0));
                        }
                        State::Active => {
                            let position = stack.iter().position(|(n, _)| *n == target)?;
                            return Some(stack[position..].iter().map(|(n, _)| *n).collect());
                        }
                        State::Done => {}
                    }
                } else {
                    state[node] = State::Done;
                    stack.pop();
                }
            }
        }
        None
    }

    /// The services `service` lists in `depends-on`.
    pub fn direct_dependencies(&self, service: usize) -> &[usize] {
        &self.depends_on[service]
    }

    /// Every service after everything it depends on (cycles are refused earlier); linear in
    /// services and edges.
    pub fn dependencies_first(&self) -> Vec<usize> {
        let count = self.names.len();
        let mut placed = vec![false; count];
        // On the current path: a cycle (refused by config validation) cannot loop forever.
        let mut active = vec![false; count];
        let mut order = Vec::with_capacity(count);
        for start in 0..count {
            // Iterative post-order DFS: a node is placed once all its dependencies are.
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            active[start] = true;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if placed[node] {
                    stack.pop();
                    continue;
                }
                match self.depends_on[node].get(*next) {
                    Some(&target) => {
                        *next += 1;
                        if !placed[target] && !active[target] {
                            active[target] = true;
                            stack.push((target, 0));
                        }
                    }
                    None => {
                        placed[node] = true;
                        active[node] = false;
                        order.push(node);
                        stack.pop();
                    }
                }
            }
        }
        order
    }

    /// `service` and everything it depends on, transitively (cycles are refused earlier).
    pub fn dependencies(&self, service: usize) -> Vec<usize> {
        let mut seen = vec![false; self.names.len()];
        let mut stack = vec![service];
        let mut out = Vec::new();
        while let Some(node) = stack.pop() {
            if std::mem::replace(&mut seen[node], true) {
                continue;
            }
            out.push(node);
            stack.extend(&self.depends_on[node]);
        }
        out.sort_unstable();
        out
    }

    /// Every service pulled in by the `changed` ones through `depends-on`, with the chain that
    /// pulled it in: `payments → [payments, common]` means payments depends on common.
    /// Services already in `changed` are not returned.
    pub fn pulled_in(&self, changed: &[usize], mode: Dependents) -> BTreeMap<usize, Vec<usize>> {
        let max_depth = match mode {
            Dependents::None => 0,
            Dependents::Direct => 1,
            Dependents::Transitive => usize::MAX,
        };
        let mut chain: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut seen = vec![false; self.names.len()];
        let mut queue = VecDeque::new();
        for &index in changed {
            seen[index] = true;
            queue.push_back((index, vec![index], 0usize));
        }
        // Breadth first, so each service is explained by its shortest chain.
        while let Some((node, path, depth)) = queue.pop_front() {
            if depth >= max_depth {
                continue;
            }
            let mut next: Vec<usize> = self.dependents[node].clone();
            next.sort_by(|a, b| self.names[*a].cmp(&self.names[*b]));
            for dependent in next {
                if seen[dependent] {
                    continue;
                }
                seen[dependent] = true;
                let mut longer = vec![dependent];
                longer.extend(&path);
                chain.insert(dependent, longer.clone());
                queue.push_back((dependent, longer, depth + 1));
            }
        }
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(spec: &[(&str, &[&str])]) -> DependencyGraph {
        let names: Vec<String> = spec.iter().map(|(n, _)| n.to_string()).collect();
        let edges = spec
            .iter()
            .map(|(_, deps)| {
                deps.iter()
                    .map(|d| names.iter().position(|n| n == d).unwrap())
                    .collect()
            })
            .collect();
        DependencyGraph::new(names, edges)
    }

    fn names(g: &DependencyGraph, indices: &[usize]) -> Vec<String> {
        indices.iter().map(|i| g.name(*i).to_string()).collect()
    }

    #[test]
    fn dependencies_come_first_each_once_even_around_a_cycle() {
        let g = graph(&[
            ("web", &["api", "common"]),
            ("api", &["common"]),
            ("common", &[]),
            ("tool", &[]),
        ]);
        assert_eq!(
            names(&g, &g.dependencies_first()),
            ["common", "api", "web", "tool"]
        );
        assert_eq!(g.direct_dependencies(0), &[1, 2]);
        // Refused by validation, but never an endless loop here.
        let cycle = graph(&[("a", &["b"]), ("b", &["a"])]);
        assert_eq!(names(&cycle, &cycle.dependencies_first()), ["b", "a"]);
    }

    #[test]
    fn transitive_dependents_with_their_chain() {
        let g = graph(&[
            ("common", &[]),
            ("auth", &["common"]),
            ("payments", &["auth"]),
            ("web", &[]),
        ]);
        let pulled = g.pulled_in(&[0], Dependents::Transitive);
        let explained: Vec<(String, Vec<String>)> = pulled
            .iter()
            .map(|(k, v)| (g.name(*k).to_string(), names(&g, v)))
            .collect();
        assert_eq!(
            explained,
            vec![
                (
                    "auth".to_string(),
                    vec!["auth".to_string(), "common".to_string()]
                ),
                (
                    "payments".to_string(),
                    vec![
                        "payments".to_string(),
                        "auth".to_string(),
                        "common".to_string()
                    ]
                ),
            ]
        );
    }

    #[test]
    fn direct_and_none() {
        let g = graph(&[
            ("common", &[]),
            ("auth", &["common"]),
            ("payments", &["auth"]),
        ]);
        assert_eq!(g.pulled_in(&[0], Dependents::Direct).len(), 1);
        assert!(g.pulled_in(&[0], Dependents::None).is_empty());
    }

    #[test]
    fn already_changed_services_are_not_pulled_in_again() {
        let g = graph(&[("common", &[]), ("auth", &["common"])]);
        assert!(g.pulled_in(&[0, 1], Dependents::Transitive).is_empty());
    }

    #[test]
    fn cycles_are_found_with_their_members() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        let cycle = g.find_cycle().unwrap();
        assert_eq!(names(&g, &cycle), vec!["a", "b", "c"]);
        let g = graph(&[("a", &["a"])]);
        assert_eq!(names(&g, &g.find_cycle().unwrap()), vec!["a"]);
        let g = graph(&[("a", &["b"]), ("b", &[]), ("c", &["a", "b"])]);
        assert!(g.find_cycle().is_none());
    }
}
