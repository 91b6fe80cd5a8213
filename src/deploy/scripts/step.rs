//! A step of a phase: one script run with one action once the steps it comes after
//! are finished, and why the plan has it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What a step does with a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Run `SCRIPT start`.
    Start,
    /// Run `SCRIPT stop`.
    Stop,
}

impl Action {
    /// The activity name passed to the script.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
        }
    }
}

/// Why a process is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// Only in the new profile.
    New,
    /// Only in the old profile.
    Obsolete,
    /// In both, with a different script.
    Changed,
}

/// One step: run one script with one action once the `after` steps are finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Process name.
    pub name: String,
    /// Start or stop.
    pub action: Action,
    /// The script to run (through its profile).
    pub script: PathBuf,
    /// Names of steps of the same phase that must finish first.
    pub after: Vec<String>,
    /// Why the process is in the plan.
    pub reason: Reason,
}
