//! The dependency graph of a set of processes: the one place that walks dependencies.
//!
//! A [`Graph`] is built from `(name, dependencies)` pairs and is checked as it is built:
//! every dependency names a node and there is no cycle (reported as a path,
//! `a -> b -> c -> a`). A built graph is therefore acyclic, and its walks cannot fail:
//! [`Graph::order_by`] (dependencies first), [`Graph::layers`] (dependency depth, by the
//! rule of [`layer_above`] that also gives the renderer's start sequence numbers),
//! [`Graph::nearest`] (along dependencies for starts, along dependants for stops) and
//! [`Graph::edges`]. [`Dot`] writes a graph in Graphviz's DOT language.
//!
//! It is a petgraph graph, and petgraph's algorithms do the work where they fit: `toposort`
//! checks for a cycle, `Topo` gives the layers, `Dfs` over a `NodeFiltered` view finds
//! the nearest wanted nodes. Built on them: the start order with ties broken by a key,
//! and the search that names the cycle as a path.
//!
//! The renderer and the switch both use it; it depends on neither.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, IntoNeighbors, NodeFiltered, Reversed, Topo, VisitMap, Visitable};
use petgraph::Direction::{Incoming, Outgoing};

/// Why a set of processes is not a dependency graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// A process depends on a name that is not in the set.
    #[error("`{process}` depends on `{dependency}`, which is not in the graph")]
    MissingDependency {
        /// The process declaring the dependency.
        process: String,
        /// The missing dependency.
        dependency: String,
    },
    /// The dependencies go round in a circle.
    #[error("dependency cycle: {0}")]
    Cycle(Cycle),
}

/// A dependency cycle as a path that ends where it starts: `a` depends on `b`, `b` on
/// `c`, `c` on `a` is `[a, b, c, a]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<String>);

impl fmt::Display for Cycle {
    /// The path joined by arrows: `a -> b -> c -> a`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" -> "))
    }
}

/// Which way a walk follows the edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From a process to what it depends on (what must start before it).
    Dependencies,
    /// From a process to what depends on it (what must stop before it).
    Dependants,
}

impl Direction {
    /// The petgraph direction of the edges followed (an edge goes from a process to its
    /// dependency).
    fn edges(self) -> petgraph::Direction {
        match self {
            Direction::Dependencies => Outgoing,
            Direction::Dependants => Incoming,
        }
    }
}

/// An acyclic dependency graph; nodes keep the order they were given in.
///
/// A petgraph [`DiGraph`] whose node weights are the names, with an edge from each
/// process to each of its dependencies (a dependency listed twice gives two edges), and
/// the index of each name.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    graph: DiGraph<String, ()>,
    index: BTreeMap<String, NodeIndex>,
}

impl Graph {
    /// Builds the graph of `processes`, `(name, dependencies)` pairs (a name given twice
    /// adds its dependencies to the first). Fails on the first dependency, in the order
    /// given, that names no process, then on the first cycle a depth-first search finds
    /// starting from the processes in the order given, following dependencies in the
    /// order listed.
    pub fn new<'a, D>(
        processes: impl IntoIterator<Item = (&'a str, D)>,
    ) -> Result<Graph, GraphError>
    where
        D: IntoIterator<Item = &'a str>,
    {
        let mut graph = Graph::default();
        let declared: Vec<(NodeIndex, Vec<&'a str>)> = processes
            .into_iter()
            .map(|(name, dependencies)| (graph.node(name), dependencies.into_iter().collect()))
            .collect();
        let mut edges = Vec::new();
        for (node, dependencies) in declared {
            for dependency in dependencies {
                let Some(&target) = graph.index.get(dependency) else {
                    return Err(GraphError::MissingDependency {
                        process: graph.graph[node].clone(),
                        dependency: dependency.to_string(),
                    });
                };
                edges.push((node, target));
            }
        }
        // petgraph lists a node's edges newest first: added last first, each node's
        // dependencies come in the order listed and its dependants in the order given.
        graph.graph.extend_with_edges(edges.iter().rev());
        if petgraph::algo::toposort(&graph.graph, None).is_err() {
            return Err(GraphError::Cycle(graph.first_cycle()));
        }
        Ok(graph)
    }

    /// The index of node `name`, added when new.
    fn node(&mut self, name: &str) -> NodeIndex {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.graph.add_node(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }

    /// The first cycle closed by a back edge of a depth-first search from each node in
    /// turn, following dependencies in the order listed: the path searched from the
    /// edge's target, then the target again (an empty path when there is none).
    ///
    /// petgraph's `depth_first_search` reports back edges but recurses once per node on
    /// the path, so a long chain would overflow the stack: this search keeps its path,
    /// each node with its neighbour iterator, on the heap.
    fn first_cycle(&self) -> Cycle {
        let g = &self.graph;
        let mut discovered = g.visit_map();
        let mut finished = g.visit_map();
        for start in g.node_indices() {
            if !discovered.visit(start) {
                continue;
            }
            let mut path = vec![(start, g.neighbors(start))];
            while let Some((node, next)) = path.last_mut() {
                match next.next() {
                    None => {
                        finished.visit(*node);
                        path.pop();
                    }
                    Some(d) if discovered.visit(d) => path.push((d, g.neighbors(d))),
                    Some(d) if !finished.is_visited(&d) => {
                        let from = path.iter().position(|(n, _)| *n == d).unwrap_or(0);
                        let names = path[from..].iter().map(|(n, _)| n).chain([&d]);
                        return Cycle(names.map(|&n| g[n].clone()).collect());
                    }
                    Some(_) => {}
                }
            }
        }
        Cycle(Vec::new())
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether the graph has no node.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Whether `name` is a node.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The nodes, in the order given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.graph.node_weights().map(String::as_str)
    }

    /// The neighbours of `name` one edge away in `direction` (none for an unknown name).
    pub fn neighbours(&self, name: &str, direction: Direction) -> impl Iterator<Item = &str> {
        let node = self.index.get(name).copied();
        node.into_iter()
            .flat_map(move |n| self.graph.neighbors_directed(n, direction.edges()))
            .map(|n| self.graph[n].as_str())
    }

    /// Every edge `(process, dependency)`, by process in the order given, then in the
    /// order its dependencies were listed.
    pub fn edges(&self) -> impl Iterator<Item = (&str, &str)> {
        self.names().flat_map(move |name| {
            self.neighbours(name, Direction::Dependencies)
                .map(move |d| (name, d))
        })
    }

    /// Every node, each after its dependencies; among the nodes whose dependencies are
    /// all placed, the one with the smallest `key` comes first (then the one given
    /// first). Reverse it for an order in which each node comes after its dependants.
    pub fn order_by<'g, K: Ord>(&'g self, key: impl Fn(&'g str) -> K) -> Vec<&'g str> {
        let g = &self.graph;
        let mut waiting: Vec<usize> = g
            .node_indices()
            .map(|n| g.neighbors_directed(n, Outgoing).count())
            .collect();
        let mut ready: BinaryHeap<Reverse<(K, NodeIndex)>> = g
            .node_indices()
            .filter(|n| waiting[n.index()] == 0)
            .map(|n| Reverse((key(&g[n]), n)))
            .collect();
        let mut order = Vec::with_capacity(g.node_count());
        while let Some(Reverse((_, n))) = ready.pop() {
            order.push(g[n].as_str());
            for d in g.neighbors_directed(n, Incoming) {
                waiting[d.index()] -= 1;
                if waiting[d.index()] == 0 {
                    ready.push(Reverse((key(&g[d]), d)));
                }
            }
        }
        order
    }

    /// [`Graph::order_by`] with ties broken by the order the nodes were given in.
    pub fn order(&self) -> Vec<&str> {
        self.order_by(|_| ())
    }

    /// Each node's layer: 0 without dependencies, else one above its highest dependency
    /// (see [`layer_above`]); the nodes of one layer can start together once the layers
    /// below are up.
    pub fn layers(&self) -> BTreeMap<&str, u32> {
        // Edges go from a process to its dependencies: reversed, a topological walk
        // meets every dependency before its dependants.
        let reversed = Reversed(&self.graph);
        let mut layers = vec![0; self.len()];
        let mut topo = Topo::new(reversed);
        while let Some(n) = topo.next(reversed) {
            let below = self
                .graph
                .neighbors_directed(n, Outgoing)
                .map(|d| (d, layers[d.index()]));
            (layers[n.index()], _) = layer_above(below, 0);
        }
        self.names().zip(layers).collect()
    }

    /// The nodes `wanted` picks that are reachable from `from` in `direction` without
    /// passing through another node it picks (the others are walked through), sorted by
    /// name.
    pub fn nearest(
        &self,
        from: &str,
        direction: Direction,
        wanted: impl Fn(&str) -> bool,
    ) -> Vec<&str> {
        let Some(&start) = self.index.get(from) else {
            return Vec::new();
        };
        let wanted = |n: NodeIndex| wanted(&self.graph[n]);
        let found = match direction {
            Direction::Dependencies => nearest(&self.graph, start, wanted),
            Direction::Dependants => nearest(Reversed(&self.graph), start, wanted),
        };
        let names: BTreeSet<&str> = found.into_iter().map(|n| self.graph[n].as_str()).collect();
        names.into_iter().collect()
    }
}

/// The nodes `wanted` picks among the neighbours of the nodes a depth-first search of
/// `graph` from `start` reaches through nodes it does not pick: those reachable from
/// `start` without passing through another picked node (in an acyclic graph).
fn nearest<G>(graph: G, start: G::NodeId, wanted: impl Fn(G::NodeId) -> bool) -> Vec<G::NodeId>
where
    G: IntoNeighbors + Visitable,
{
    let through = NodeFiltered::from_fn(graph, |n| n == start || !wanted(n));
    let mut dfs = Dfs::new(&through, start);
    let mut found = Vec::new();
    while let Some(n) = dfs.next(&through) {
        found.extend(graph.neighbors(n).filter(|&m| wanted(m)));
    }
    found
}

/// The layer of a node whose dependencies are in `dependency_layers` (each with its
/// layer): one above the highest, or `base` without dependencies. Also returns the
/// dependency that decided it (the last of the highest). The renderer's start sequence
/// (`minSequence`, else the highest dependency sequence + 1) is this rule.
pub fn layer_above<T>(
    dependency_layers: impl IntoIterator<Item = (T, u32)>,
    base: u32,
) -> (u32, Option<T>) {
    match dependency_layers
        .into_iter()
        .max_by_key(|(_, layer)| *layer)
    {
        Some((dependency, layer)) => (layer + 1, Some(dependency)),
        None => (base, None),
    }
}

/// A Graphviz DOT digraph written line by line: a comment, the graph's settings, then
/// nodes and edges, each name quoted.
#[derive(Debug, Clone)]
pub struct Dot {
    out: String,
}

impl Dot {
    /// Starts the digraph `name` with a `// comment` line and `settings` (each a
    /// statement without its `;`, e.g. `rankdir=BT`).
    pub fn new(comment: &str, name: &str, settings: &[&str]) -> Dot {
        let mut out = format!("// {comment}\ndigraph {name} {{\n");
        for setting in settings {
            out.push_str(&format!("  {setting};\n"));
        }
        Dot { out }
    }

    /// Adds node `name` with `attributes` (e.g. `label="a", style=filled`).
    pub fn node(&mut self, name: &str, attributes: &str) {
        self.out
            .push_str(&format!("  {} [{attributes}];\n", dot_quote(name)));
    }

    /// Adds an edge from `from` to `to`, with `attributes` unless empty.
    pub fn edge(&mut self, from: &str, to: &str, attributes: &str) {
        let attributes = if attributes.is_empty() {
            String::new()
        } else {
            format!(" [{attributes}]")
        };
        self.out.push_str(&format!(
            "  {} -> {}{attributes};\n",
            dot_quote(from),
            dot_quote(to)
        ));
    }

    /// The finished text.
    pub fn finish(mut self) -> String {
        self.out.push_str("}\n");
        self.out
    }
}

/// `text` as a DOT quoted string: `"` and `\` escaped, a newline as `\n`, other control
/// characters dropped.
pub fn dot_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn graph(processes: &[(&str, &[&str])]) -> Result<Graph, GraphError> {
        Graph::new(processes.iter().map(|(n, d)| (*n, d.iter().copied())))
    }

    #[test]
    fn a_missing_dependency_is_named_before_any_cycle() {
        let e = graph(&[("a", &["b"]), ("b", &["a", "x"])]).unwrap_err();
        assert_eq!(
            e,
            GraphError::MissingDependency {
                process: "b".into(),
                dependency: "x".into()
            }
        );
    }

    #[test]
    fn a_cycle_is_a_path_from_the_first_node_in_it() {
        let e = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])]).unwrap_err();
        assert_eq!(e.to_string(), "dependency cycle: a -> b -> c -> a");
        let e = graph(&[("x", &["b"]), ("b", &["c"]), ("c", &["b"])]).unwrap_err();
        assert_eq!(e.to_string(), "dependency cycle: b -> c -> b");
        let e = graph(&[("a", &["a"])]).unwrap_err();
        assert_eq!(e, GraphError::Cycle(Cycle(vec!["a".into(), "a".into()])));
    }

    #[test]
    fn the_cycle_is_the_first_a_search_in_the_given_order_meets() {
        // Two cycles: the one reached through the dependency listed first is named.
        let cycles: &[(&str, &[&str])] = &[
            ("a", &["x", "b"]),
            ("b", &["a"]),
            ("x", &["y"]),
            ("y", &["x"]),
        ];
        let e = graph(cycles).unwrap_err();
        assert_eq!(e.to_string(), "dependency cycle: x -> y -> x");
        let e = graph(&[
            ("a", &["b", "x"]),
            ("b", &["a"]),
            ("x", &["y"]),
            ("y", &["x"]),
        ]);
        assert_eq!(e.unwrap_err().to_string(), "dependency cycle: a -> b -> a");
        // A node already searched without a cycle is not searched again.
        let e = graph(&[("d", &["c"]), ("a", &["c", "b"]), ("b", &["a"]), ("c", &[])]);
        assert_eq!(e.unwrap_err().to_string(), "dependency cycle: a -> b -> a");
        // A missing dependency is named in the order given, even after a cycle.
        let e = graph(&[("a", &["a"]), ("b", &["x", "y"])]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`b` depends on `x`, which is not in the graph"
        );
    }

    #[test]
    fn repeated_names_and_dependencies_keep_every_edge_in_order() {
        let g = graph(&[("c", &["a", "b"]), ("b", &["a"]), ("a", &[]), ("c", &["a"])]).unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(g.names().collect::<Vec<_>>(), ["c", "b", "a"]);
        let edges: Vec<_> = g.edges().collect();
        assert_eq!(edges, [("c", "a"), ("c", "b"), ("c", "a"), ("b", "a")]);
        let dependants: Vec<_> = g.neighbours("a", Direction::Dependants).collect();
        assert_eq!(dependants, ["c", "b", "c"]);
        assert_eq!(g.order(), ["a", "b", "c"]);
        assert_eq!(g.layers()["c"], 2);
        assert!(g.contains("b") && !g.contains("d"));
        assert!(!g.is_empty() && graph(&[]).unwrap().is_empty());
    }

    #[test]
    fn long_chains_do_not_exhaust_a_small_stack() {
        let n = 30_000;
        let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        let walk = move || {
            let next = |i: usize| names.get(i + 1).map(String::as_str);
            let g = Graph::new((0..n).map(|i| (names[i].as_str(), next(i)))).unwrap();
            assert_eq!(g.order().len(), n);
            assert_eq!(g.layers()["p0"], n as u32 - 1);
            let last = names[n - 1].as_str();
            assert_eq!(
                g.nearest("p0", Direction::Dependencies, |m| m == last),
                [last]
            );
            assert_eq!(
                g.nearest(last, Direction::Dependants, |m| m == "p0"),
                ["p0"]
            );
            let round = |i: usize| Some(names[(i + 1) % n].as_str());
            let e = Graph::new((0..n).map(|i| (names[i].as_str(), round(i)))).unwrap_err();
            assert!(matches!(e, GraphError::Cycle(Cycle(path)) if path.len() == n + 1));
        };
        let thread = std::thread::Builder::new().stack_size(1 << 20);
        thread.spawn(walk).unwrap().join().unwrap();
    }

    #[test]
    fn order_puts_dependencies_first_and_ties_by_key() {
        let g = graph(&[("web", &["db", "cache"]), ("db", &[]), ("cache", &[])]).unwrap();
        assert_eq!(g.order(), ["db", "cache", "web"]);
        assert_eq!(g.order_by(|name| name), ["cache", "db", "web"]);
        assert_eq!(g.order_by(Reverse), ["db", "cache", "web"]);
    }

    #[test]
    fn layers_are_dependency_depths() {
        let g = graph(&[("c", &["b", "a"]), ("b", &["a"]), ("a", &[]), ("d", &[])]).unwrap();
        let layers: Vec<_> = g.layers().into_iter().collect();
        assert_eq!(layers, [("a", 0), ("b", 1), ("c", 2), ("d", 0)]);
        assert_eq!(
            layer_above([("x", 4), ("y", 7), ("z", 7)], 1),
            (8, Some("z"))
        );
        assert_eq!(layer_above(Vec::<(&str, u32)>::new(), 1), (1, None));
    }

    #[test]
    fn nearest_walks_through_unwanted_nodes_both_ways() {
        // d -> c -> b -> a, d -> a
        let g = graph(&[("a", &[]), ("b", &["a"]), ("c", &["b"]), ("d", &["c", "a"])]).unwrap();
        let wanted = |n: &str| n == "a" || n == "d";
        assert_eq!(g.nearest("d", Direction::Dependencies, wanted), ["a"]);
        assert_eq!(g.nearest("a", Direction::Dependants, wanted), ["d"]);
        assert_eq!(g.nearest("c", Direction::Dependencies, |_| true), ["b"]);
        assert!(g
            .nearest("unknown", Direction::Dependants, |_| true)
            .is_empty());
    }

    #[test]
    fn edges_and_dot() {
        let g = graph(&[("a", &[]), ("b\"c", &["a"])]).unwrap();
        let mut dot = Dot::new("an edge A -> B: A depends on B", "g", &["rankdir=BT"]);
        for name in g.names() {
            dot.node(name, "shape=box");
        }
        for (from, to) in g.edges() {
            dot.edge(from, to, "");
        }
        dot.edge("a", "x\ny", "style=dashed");
        assert_eq!(
            dot.finish(),
            "// an edge A -> B: A depends on B\ndigraph g {\n  rankdir=BT;\n  \"a\" [shape=box];\n  \
             \"b\\\"c\" [shape=box];\n  \"b\\\"c\" -> \"a\";\n  \"a\" -> \"x\\ny\" [style=dashed];\n}\n"
        );
    }

    /// Acyclic inputs: each node depends only on nodes given before it (the order is
    /// then shuffled by reversing some).
    fn acyclic() -> impl Strategy<Value = Vec<(String, Vec<String>)>> {
        (1usize..40)
            .prop_flat_map(|n| {
                let deps = (0..n)
                    .map(|i| proptest::collection::vec(0..i.max(1), 0..4))
                    .collect::<Vec<_>>();
                (deps, any::<bool>())
            })
            .prop_map(|(deps, reverse)| {
                let mut nodes: Vec<(String, Vec<String>)> = deps
                    .into_iter()
                    .enumerate()
                    .map(|(i, ds)| {
                        let ds = if i == 0 { Vec::new() } else { ds };
                        (
                            format!("p{i}"),
                            ds.iter().map(|d| format!("p{d}")).collect(),
                        )
                    })
                    .collect();
                if reverse {
                    nodes.reverse();
                }
                nodes
            })
    }

    proptest! {
        #[test]
        fn every_node_comes_after_its_dependencies(nodes in acyclic()) {
            let g = Graph::new(nodes.iter().map(|(n, ds)| (n.as_str(), ds.iter().map(String::as_str))))
                .unwrap();
            let order = g.order_by(|name| name.len());
            prop_assert_eq!(order.len(), nodes.len());
            let position: BTreeMap<&str, usize> =
                order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
            let layers = g.layers();
            for (name, deps) in &nodes {
                for d in deps {
                    prop_assert!(position[d.as_str()] < position[name.as_str()]);
                    prop_assert!(layers[d.as_str()] < layers[name.as_str()]);
                }
            }
        }
    }
}
