//! The JSON lines the switch prints with `--json`, and the fleet's summary: one typed
//! protocol shared by the tool that writes them (on a host) and the deployer that reads
//! them back over SSH.
//!
//! Every line is one [`Event`], tagged by its `event` field, keys in camelCase. The
//! closing [`SwitchResult`] and the fleet [`Summary`] carry [`PROTOCOL`]: a deployer that
//! reads a result of another protocol (a tool on the host older or newer than itself)
//! says so instead of misreading it. Events a reader does not know are skipped.

use serde::{Deserialize, Serialize};

/// The version of this protocol. Raise it when a field changes meaning or goes away;
/// adding an optional field or an event keeps it.
pub const PROTOCOL: u32 = 1;

/// One line of a switch's `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum Event {
    /// A phase of the switch begins (`stopping`, `starting` ...) with this many steps.
    Phase {
        /// The phase's label.
        phase: String,
        /// Its steps.
        steps: usize,
    },
    /// A step's script was started.
    Launched {
        /// The process.
        name: String,
        /// `start` or `stop`.
        action: String,
    },
    /// A step's script ended.
    Finished {
        /// The process.
        name: String,
        /// `start` or `stop`.
        action: String,
        /// Whether it succeeded.
        ok: bool,
        /// How it ended (`exit status: 0` ...).
        status: String,
        /// How long it ran.
        seconds: f64,
    },
    /// The switch's outcome: its last line.
    Result(Box<SwitchResult>),
    /// A fleet run's outcome, one entry per host (the deployer's last line).
    Fleet(Summary),
    /// An event of a newer tool that this reader does not know.
    #[serde(other)]
    Unknown,
}

impl Event {
    /// The event as one JSON line (without its newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("events are strings, numbers and lists")
    }

    /// The event of a line, `None` for a line that is not one (plain text).
    pub fn from_line(line: &str) -> Option<Event> {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        value.get("event")?;
        serde_json::from_value(value).ok()
    }

    /// A line for a person about a progress event, `None` for events not worth a line.
    pub fn describe(&self) -> Option<String> {
        match self {
            Event::Phase { phase, steps } => Some(format!("{phase}: {steps} step(s)")),
            Event::Finished {
                name,
                action,
                ok,
                status,
                seconds,
            } => {
                let state = if *ok {
                    "ok".to_string()
                } else {
                    format!("FAILED ({status})")
                };
                Some(format!("{action:<5} {name:<30} {state} {seconds:.2}s"))
            }
            _ => None,
        }
    }
}

/// What a switch did, or why it failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchResult {
    /// The protocol the tool speaks (absent, hence 0, before it had one).
    #[serde(default)]
    pub protocol: u32,
    /// Whether the switch succeeded.
    pub ok: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The profile link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The profile deployed (a store path, or the empty profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed: Option<String>,
    /// The generation of the profile before this switch (`None`: nothing was deployed);
    /// what a fleet rolls the host back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_generation: Option<u64>,
    /// Processes stopped (those restarted are also in `started`).
    #[serde(default)]
    pub stopped: Vec<String>,
    /// Processes started.
    #[serde(default)]
    pub started: Vec<String>,
    /// Processes left running as they were.
    #[serde(default)]
    pub unchanged: Vec<String>,
    /// Processes whose stop failed (reported, not fatal).
    #[serde(default)]
    pub failed_stops: Vec<String>,
    /// Users created.
    #[serde(default)]
    pub created_users: Vec<String>,
    /// Groups created.
    #[serde(default)]
    pub created_groups: Vec<String>,
    /// Users removed.
    #[serde(default)]
    pub removed_users: Vec<String>,
    /// Groups removed.
    #[serde(default)]
    pub removed_groups: Vec<String>,
    /// What the recovery of an interrupted earlier switch did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<String>,
}

impl SwitchResult {
    /// The result of a failed switch.
    pub fn failed(error: String) -> SwitchResult {
        SwitchResult {
            protocol: PROTOCOL,
            ok: false,
            error: Some(error),
            ..SwitchResult::default()
        }
    }

    /// How many processes were stopped, started, restarted (in both lists) and left.
    pub fn changes(&self) -> Changes {
        let stopped: std::collections::BTreeSet<&str> =
            self.stopped.iter().map(String::as_str).collect();
        let started: std::collections::BTreeSet<&str> =
            self.started.iter().map(String::as_str).collect();
        let restarted = stopped.intersection(&started).count();
        Changes {
            stopped: stopped.len() - restarted,
            started: started.len() - restarted,
            restarted,
            unchanged: self.unchanged.len(),
        }
    }
}

/// What a switch did on one host, in counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Processes stopped and not started again.
    pub stopped: usize,
    /// Processes started that did not run before.
    pub started: usize,
    /// Processes stopped and started again (changed).
    pub restarted: usize,
    /// Processes left running as they were.
    pub unchanged: usize,
}

impl std::fmt::Display for Changes {
    /// `N stopped, N started, N restarted, N unchanged`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} stopped, {} started, {} restarted, {} unchanged",
            self.stopped, self.started, self.restarted, self.unchanged
        )
    }
}

/// A fleet run's outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The protocol of the deployer that wrote it.
    #[serde(default)]
    pub protocol: u32,
    /// Whether every host succeeded.
    pub ok: bool,
    /// One entry per host, in the fleet file's order.
    pub hosts: Vec<HostSummary>,
}

/// One host's entry in a fleet [`Summary`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostSummary {
    /// The host's name.
    pub host: String,
    /// Whether its job succeeded.
    pub ok: bool,
    /// The switch's counts, when it switched.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    /// The host's switch's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<SwitchResult>,
    /// The output of a listing, a plan or an activity on the host (its JSON when it
    /// printed JSON, else the text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where it ended when the fleet was rolled back after its switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_keep_their_json_shape() {
        let finished = Event::Finished {
            name: "web".into(),
            action: "start".into(),
            ok: true,
            status: "exit status: 0".into(),
            seconds: 0.25,
        };
        let line = finished.to_line();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&line).unwrap(),
            json!({"event": "finished", "name": "web", "action": "start", "ok": true,
                "status": "exit status: 0", "seconds": 0.25})
        );
        assert_eq!(Event::from_line(&line), Some(finished.clone()));
        assert_eq!(
            finished.describe().unwrap(),
            format!("{:<5} {:<30} ok 0.25s", "start", "web")
        );
        let phase = Event::from_line(r#"{"event":"phase","phase":"starting","steps":3}"#);
        assert_eq!(phase.unwrap().describe().unwrap(), "starting: 3 step(s)");
    }

    #[test]
    fn unknown_events_and_plain_lines_are_told_apart() {
        assert_eq!(
            Event::from_line(r#"{"event":"fromTheFuture","x":1}"#),
            Some(Event::Unknown)
        );
        assert_eq!(Event::from_line("plain text"), None);
        assert_eq!(Event::from_line(r#"{"no":"event"}"#), None);
    }

    #[test]
    fn a_result_without_a_protocol_is_protocol_0() {
        let old = Event::from_line(r#"{"event":"result","ok":true,"started":["a"]}"#);
        let Some(Event::Result(result)) = old else {
            panic!("{old:?}")
        };
        assert_eq!(
            (result.protocol, result.started),
            (0, vec!["a".to_string()])
        );
    }

    #[test]
    fn a_name_stopped_and_started_was_restarted() {
        let result = SwitchResult {
            stopped: vec!["a".into(), "b".into()],
            started: vec!["b".into(), "c".into(), "d".into()],
            unchanged: vec!["e".into()],
            ..SwitchResult::default()
        };
        assert_eq!(
            result.changes(),
            Changes {
                stopped: 1,
                started: 2,
                restarted: 1,
                unchanged: 1
            }
        );
    }

    #[test]
    fn a_host_summary_has_its_counts_at_its_top_level() {
        let host = HostSummary {
            host: "h".into(),
            ok: true,
            changes: Some(Changes {
                started: 2,
                ..Changes::default()
            }),
            ..HostSummary::default()
        };
        let value = serde_json::to_value(&host).unwrap();
        assert_eq!(
            value,
            json!({"host": "h", "ok": true, "stopped": 0, "started": 2, "restarted": 0,
                "unchanged": 0})
        );
        assert_eq!(serde_json::from_value::<HostSummary>(value).unwrap(), host);
    }
}
