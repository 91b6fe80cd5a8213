//! The plan of a switch: the difference between two profiles as ordered steps.
//!
//! Processes only in the old profile are obsolete and stop; processes only in the new
//! profile start; processes in both whose script differs restart (the old script stops
//! it, the new one starts it). Stops run first, each after the steps of the processes
//! that depend on it; then starts, each after the steps of the processes it depends on.
//! A process whose secrets change restarts too, with its script unchanged.
//! Dependants of a restarted process keep running.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::deploy::profile::Profile;
use crate::deploy::Result;
use crate::graph::{dot_quote, Direction, Dot, Graph};

pub use crate::deploy::scripts::step::{Action, Reason, Step};

/// A complete switch plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Stop steps (old scripts), in an order compatible with their `after` lists.
    pub stops: Vec<Step>,
    /// Start steps (new scripts), in an order compatible with their `after` lists.
    pub starts: Vec<Step>,
    /// Processes present and identical in both profiles.
    pub unchanged: Vec<String>,
}

impl Plan {
    /// Diffs `old` and `new`. Both profiles' graphs are checked first: a cycle or a
    /// missing dependency is an error naming it.
    pub fn diff(old: &Profile, new: &Profile) -> Result<Plan> {
        Plan::diff_restarting(old, new, &BTreeSet::new())
    }

    /// [`Plan::diff`], with the processes of `restart` restarted even when their script
    /// is the same (their secrets changed).
    pub fn diff_restarting(
        old: &Profile,
        new: &Profile,
        restart: &BTreeSet<String>,
    ) -> Result<Plan> {
        let old_graph = dependency_graph(old)?;
        let new_graph = dependency_graph(new)?;
        let mut reasons_old: BTreeMap<&str, Reason> = BTreeMap::new();
        let mut reasons_new: BTreeMap<&str, Reason> = BTreeMap::new();
        let mut unchanged = Vec::new();
        for (name, p) in &old.processes {
            match new.processes.get(name) {
                None => {
                    reasons_old.insert(name, Reason::Obsolete);
                }
                Some(q) if restart.contains(name) || !p.same_as(q) => {
                    reasons_old.insert(name, Reason::Changed);
                    reasons_new.insert(name, Reason::Changed);
                }
                Some(_) => unchanged.push(name.clone()),
            }
        }
        for name in new.processes.keys() {
            if !old.processes.contains_key(name) {
                reasons_new.insert(name, Reason::New);
            }
        }

        // Starts wait for the nearest planned steps among their (transitive)
        // dependencies, in start order; stops for those among their dependants, in
        // reverse start order.
        let starts = steps(
            new,
            &new_graph,
            new.start_order()?,
            &reasons_new,
            Action::Start,
        );
        let mut order_old = old.start_order()?;
        order_old.reverse();
        let stops = steps(old, &old_graph, order_old, &reasons_old, Action::Stop);
        Ok(Plan {
            stops,
            starts,
            unchanged,
        })
    }

    /// Whether the plan does nothing.
    pub fn is_empty(&self) -> bool {
        self.stops.is_empty() && self.starts.is_empty()
    }
}

/// The steps of one phase: one per planned process of `profile`, in `order`, each after
/// the nearest planned processes it needs (starts) or that need it (stops).
fn steps(
    profile: &Profile,
    graph: &Graph,
    order: Vec<String>,
    planned: &BTreeMap<&str, Reason>,
    action: Action,
) -> Vec<Step> {
    let direction = match action {
        Action::Start => Direction::Dependencies,
        Action::Stop => Direction::Dependants,
    };
    order
        .into_iter()
        .filter_map(|name| {
            let reason = *planned.get(name.as_str())?;
            let after = graph.nearest(&name, direction, |n| planned.contains_key(n));
            Some(Step {
                after: after.into_iter().map(str::to_string).collect(),
                script: profile.processes[&name].script.clone(),
                name,
                action,
                reason,
            })
        })
        .collect()
}

/// The dependency graph of a profile, checked: a dependency that is not in the profile
/// or a cycle is an error naming it.
fn dependency_graph(p: &Profile) -> Result<Graph> {
    let processes = p
        .processes
        .values()
        .map(|q| (q.name.as_str(), q.dependencies.iter().map(String::as_str)));
    Ok(Graph::new(processes)?)
}

/// What a plan does with one process, as the graph shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Started (new).
    Start,
    /// Stopped (obsolete).
    Stop,
    /// Stopped by its old script and started by its new one (changed).
    Restart,
    /// Left running (unchanged).
    Unchanged,
}

impl Fate {
    /// The word shown for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::Start => "start",
            Fate::Stop => "stop",
            Fate::Restart => "restart",
            Fate::Unchanged => "unchanged",
        }
    }

    /// Graphviz node attributes (besides the label).
    fn style(self) -> &'static str {
        match self {
            Fate::Start => r##"style=filled, fillcolor="#c8f0c8""##,
            Fate::Stop => r##"style="filled,dashed", fillcolor="#f4c4c4""##,
            Fate::Restart => r##"style=filled, fillcolor="#fbe3b0""##,
            Fate::Unchanged => r##"style=filled, fillcolor="#e8e8e8""##,
        }
    }
}

impl Plan {
    /// What the plan does with each process of `old` and `new`, by name.
    pub fn fates(&self, old: &Profile, new: &Profile) -> BTreeMap<String, Fate> {
        let mut fates = BTreeMap::new();
        for name in old.processes.keys().chain(new.processes.keys()) {
            fates.insert(name.clone(), Fate::Unchanged);
        }
        for step in self.stops.iter().chain(&self.starts) {
            let fate = match step.reason {
                Reason::New => Fate::Start,
                Reason::Obsolete => Fate::Stop,
                Reason::Changed => Fate::Restart,
            };
            fates.insert(step.name.clone(), fate);
        }
        fates
    }

    /// The plan as a Graphviz DOT digraph: one node per process of `old` or `new`,
    /// labelled with its name and what the plan does with it (start, stop, restart,
    /// unchanged), and an edge from each process to each of its dependencies (those of
    /// the new profile; a stopped process's from the old one, dashed).
    pub fn to_dot(&self, old: &Profile, new: &Profile) -> String {
        let fates = self.fates(old, new);
        let mut dot = Dot::new(
            "nixproc-sysvinit switch plan; an edge A -> B: A depends on B",
            "plan",
            &["rankdir=BT", "node [shape=box, fontname=\"sans-serif\"]"],
        );
        for (name, fate) in &fates {
            let label = dot_quote(&format!("{name}\n{}", fate.as_str()));
            let fate_name = fate.as_str();
            dot.node(
                name,
                &format!("label={label}, fate={fate_name}, {}", fate.style()),
            );
        }
        for (name, fate) in &fates {
            let (profile, style) = match fate {
                Fate::Stop => (old, "style=dashed"),
                _ => (new, ""),
            };
            let Some(process) = profile.processes.get(name) else {
                continue;
            };
            for dep in &process.dependencies {
                dot.edge(name, dep, style);
            }
        }
        dot.finish()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "nothing to do ({} unchanged)", self.unchanged.len());
        }
        for step in self.stops.iter().chain(&self.starts) {
            let reason = match step.reason {
                Reason::New => "new",
                Reason::Obsolete => "obsolete",
                Reason::Changed => "changed",
            };
            write!(f, "{:<5} {} ({reason})", step.action.as_str(), step.name)?;
            if !step.after.is_empty() {
                write!(f, " after {}", step.after.join(", "))?;
            }
            writeln!(f)?;
        }
        writeln!(f, "unchanged: {}", self.unchanged.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::profile::Process;
    use std::path::PathBuf;

    fn profile(entries: &[(&str, &str, &[&str])]) -> Profile {
        let mut p = Profile::empty(3);
        for (i, (name, version, deps)) in entries.iter().enumerate() {
            p.processes.insert(
                name.to_string(),
                Process {
                    name: name.to_string(),
                    script: PathBuf::from(format!("/p/{name}")),
                    resolved: PathBuf::from(format!("/store/{version}-{name}")),
                    sequence: i as u32 + 1,
                    dependencies: deps.iter().map(|d| d.to_string()).collect(),
                    has_manifest: true,
                    user: None,
                    secrets: Vec::new(),
                },
            );
        }
        p
    }

    #[test]
    fn starts_wait_for_planned_steps_through_unchanged_processes() {
        // c -> b -> a; a changes, b does not, c is new: c's start waits for a's start.
        let old = profile(&[("a", "1", &[]), ("b", "1", &["a"])]);
        let new = profile(&[("a", "2", &[]), ("b", "1", &["a"]), ("c", "1", &["b"])]);
        let plan = Plan::diff(&old, &new).unwrap();
        assert_eq!(plan.unchanged, ["b"]);
        let names: Vec<_> = plan
            .starts
            .iter()
            .map(|s| (s.name.as_str(), s.after.clone()))
            .collect();
        assert_eq!(names, [("a", vec![]), ("c", vec!["a".to_string()])]);
        assert_eq!(plan.stops.len(), 1);
        assert_eq!(plan.stops[0].reason, Reason::Changed);
    }

    #[test]
    fn obsolete_processes_stop_dependants_first() {
        let old = profile(&[("a", "1", &[]), ("b", "1", &["a"]), ("c", "1", &["b"])]);
        let plan = Plan::diff(&old, &Profile::empty(3)).unwrap();
        let order: Vec<_> = plan.stops.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(order, ["c", "b", "a"]);
        assert_eq!(plan.stops[2].after, ["b"]);
        assert!(plan.starts.is_empty());
    }

    #[test]
    fn the_graph_marks_every_process_and_quotes_names() {
        let old = profile(&[("a", "1", &[]), ("b", "1", &["a"]), ("x\"y", "1", &["a"])]);
        let new = profile(&[("a", "2", &[]), ("c", "1", &["a"]), ("x\"y", "1", &["a"])]);
        let plan = Plan::diff(&old, &new).unwrap();
        let dot = plan.to_dot(&old, &new);
        for line in [
            r#""a" [label="a\nrestart", fate=restart"#,
            r#""b" [label="b\nstop", fate=stop"#,
            r#""c" [label="c\nstart", fate=start"#,
            r#""x\"y" [label="x\"y\nunchanged", fate=unchanged"#,
            r#""b" -> "a" [style=dashed];"#,
            r#""c" -> "a";"#,
            r#""x\"y" -> "a";"#,
        ] {
            assert!(dot.contains(line), "{line} missing in\n{dot}");
        }
        assert!(dot.starts_with("// ") && dot.ends_with("}\n"), "{dot}");
    }

    #[test]
    fn cycle_is_reported_as_a_path() {
        let p = profile(&[("a", "1", &["b"]), ("b", "1", &["c"]), ("c", "1", &["a"])]);
        let e = Plan::diff(&Profile::empty(3), &p).unwrap_err().to_string();
        assert_eq!(e, "dependency cycle: a -> b -> c -> a");
    }
}
