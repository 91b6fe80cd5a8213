//! Which activities the script has, in which order, and what each generated one does:
//! those generated from `process`, replaced by `instructions`, then by `activities`,
//! minus `removeActivities`.

use super::control::control_line;
use super::preamble::Words;
use super::start::start_steps;
use super::step::{written, Activity, Step};
use super::RuntimePaths;
use crate::spec::{ProcessSpec, DEFAULT_RESTART_ACTIVITY};

/// The order activities appear in: the usual five first, then the rest alphabetically.
const PREFERRED_ORDER: [&str; 5] = ["start", "stop", "reload", "restart", "status"];

/// Activities generated from `process`, then replaced by `instructions`, then by
/// `activities`, minus `removeActivities`; in [`PREFERRED_ORDER`].
pub(super) fn activities(
    spec: &ProcessSpec,
    words: Option<&Words>,
    paths: &RuntimePaths,
) -> Vec<(String, Activity)> {
    let mut all: Vec<(String, Activity)> = Vec::new();
    let mut put = |name: &str, activity: Activity| {
        all.retain(|(n, _)| n != name);
        all.push((name.to_string(), activity));
    };
    if let Some(words) = words {
        for (name, activity) in generated_activities(spec, words, paths) {
            put(name, activity);
        }
    }
    for (name, instr) in &spec.instructions {
        let steps = vec![written(format!("instructions.{name}"), &instr.instruction)];
        let verb = instr.activity.clone();
        put(name, Activity::Instruction { verb, steps });
    }
    for (name, code) in &spec.activities {
        put(
            name,
            Activity::Plain(vec![written(format!("activities.{name}"), code)]),
        );
    }
    all.retain(|(name, _)| !spec.remove_activities.contains(name));
    all.sort_by(|(a, _), (b, _)| {
        let rank = |n: &str| PREFERRED_ORDER.iter().position(|p| *p == n).unwrap_or(99);
        rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
    });
    all
}

/// The activities generated from `process`: `start`, `stop`, `reload` (for a process
/// that daemonizes itself), `restart` and `status`.
fn generated_activities(
    spec: &ProcessSpec,
    words: &Words,
    paths: &RuntimePaths,
) -> Vec<(&'static str, Activity)> {
    let config = &spec.config;
    let instruction = |verb: &str, steps: Vec<Step>| Activity::Instruction {
        verb: verb.into(),
        steps,
    };
    let mut generated = vec![
        (
            "start",
            instruction("Starting", start_steps(spec, words, paths)),
        ),
        (
            "stop",
            instruction(
                "Stopping",
                vec![control_line(&config.stop_daemon, words, None)],
            ),
        ),
    ];
    if spec.process_is_daemon {
        let reload = control_line(&config.reload_daemon, words, Some(&spec.reload_signal));
        generated.push(("reload", instruction("Reloading", vec![reload])));
    }
    // The default restart is the renderer's own code; another one is the user's.
    let restart = if config.restart_activity == DEFAULT_RESTART_ACTIVITY {
        DEFAULT_RESTART_ACTIVITY
            .lines()
            .map(|l| Step::Command(l.into()))
            .collect()
    } else {
        vec![written(
            "config.restartActivity".into(),
            &config.restart_activity,
        )]
    };
    generated.push(("restart", Activity::Plain(restart)));
    let status = control_line(&config.status_command, words, None);
    generated.push(("status", Activity::Plain(vec![status])));
    generated
}
