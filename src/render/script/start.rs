//! The body of the generated `start`: the secrets check, `initialize`, then the start
//! command of a daemonizing or a foreground process, and its readiness check.

use super::control::is_library;
use super::line::{Line, CHAINED};
use super::preamble::Words;
use super::step::{written, Step};
use super::{RuntimePaths, BODY};
use crate::shell::quote;
use crate::spec::{limit_words, ProcessSpec, ReadinessCheck};

/// The limits as the library's `-l` takes them, when there are any.
fn limits_text(spec: &ProcessSpec) -> Option<String> {
    (!spec.limits.is_empty()).then(|| limit_words(&spec.limits))
}

/// The start command of a process that forks into the background by itself.
fn start_daemon_line(spec: &ProcessSpec, words: &Words, indent: usize) -> String {
    let nice = spec.nice.map(|n| n.to_string());
    let line = Line::new(&spec.config.start_daemon)
        .option("-n", nice.as_deref())
        .option("-p", words.pid_file.as_deref())
        .option("-u", words.run_as.as_deref());
    let line = if is_library(&spec.config.start_daemon) {
        line.word("-s")
            .word(&words.service)
            .text_option("-l", limits_text(spec).as_deref())
    } else {
        line
    };
    line.word(&words.program)
        .texts(&spec.args)
        .written_at(indent)
}

/// The start command of a foreground process, run by its wrapper (the supervisor, or
/// libslack `daemon`).
fn start_foreground_line(spec: &ProcessSpec, words: &Words, paths: &RuntimePaths) -> String {
    let nice = spec.nice.map(|n| n.to_string());
    Line::new("start_foreground")
        .option("-D", words.wrapper.as_deref())
        .option("-p", words.pid_file.as_deref())
        .option("-n", nice.as_deref())
        .option("-u", words.run_as.as_deref())
        .text_option("-o", paths.log_file.as_deref())
        .text_option("-C", spec.directory.as_deref())
        .text_option("-m", spec.umask.as_deref())
        .word("-s")
        .word(&words.service)
        .text_option("-l", limits_text(spec).as_deref())
        .text_option("-r", spec.respawn.map(|r| r.words()).as_deref())
        .text_option(
            "-L",
            paths
                .log_file
                .as_ref()
                .and(spec.log_rotate)
                .map(|r| r.words())
                .as_deref(),
        )
        .word("--")
        .word(&words.program)
        .texts(&spec.args)
        .written()
}

/// `wait_ready ...` when the description asks for a readiness check.
fn readiness_line(spec: &ProcessSpec, words: &Words) -> Option<String> {
    let ready = spec.readiness.as_ref()?;
    let wait = Line::new("wait_ready")
        .option("-p", words.pid_file.as_deref())
        .option("-u", words.run_as.as_deref())
        .word("-x")
        .word(words.controlled())
        .word("-s")
        .word(&words.service)
        .word("-t")
        .word(&ready.timeout.to_string());
    Some(match &ready.check {
        ReadinessCheck::Tcp { host, port } => wait
            .word("-H")
            .text(host)
            .word("-P")
            .text(&port.to_string())
            .written_at(CHAINED),
        ReadinessCheck::Command(cmd) => wait.word("-c").text(cmd).written_at(CHAINED),
    })
}

/// The steps of the generated `start`: `initialize`, the `umask` of a daemonizing
/// process, then one command: its `cd` (when it has a directory), the start and the
/// readiness check, joined by `&&`, one to a line.
pub(super) fn start_steps(spec: &ProcessSpec, words: &Words, paths: &RuntimePaths) -> Vec<Step> {
    let mut steps = Vec::from_iter(secrets_check(spec));
    if !spec.initialize.trim().is_empty() {
        steps.push(written("initialize".into(), &spec.initialize));
    }
    let mut chain = Vec::new();
    if spec.process_is_daemon {
        if let Some(mask) = &spec.umask {
            steps.push(Step::Command(format!("umask {mask}")));
        }
        if let Some(dir) = &spec.directory {
            chain.push(format!("cd -- {}", quote(dir)));
        }
        let indent = if chain.is_empty() {
            BODY.len()
        } else {
            CHAINED
        };
        chain.push(start_daemon_line(spec, words, indent));
    } else {
        chain.push(start_foreground_line(spec, words, paths));
    }
    chain.extend(readiness_line(spec, words));
    steps.push(Step::Command(chain.join(&format!(" &&\n{BODY}    "))));
    steps
}

/// The first step of a start with secrets: every secret file is there (the switch
/// places them; a runtime directory on tmpfs loses them at a reboot), else the start
/// fails saying so.
fn secrets_check(spec: &ProcessSpec) -> Option<Step> {
    if spec.secrets.is_empty() {
        return None;
    }
    let files: Vec<String> = spec
        .secrets
        .values()
        .map(|s| format!("\"${}\"", s.variable))
        .collect();
    Some(Step::Command(format!(
        "for secret in {}; do\n{BODY}    [ -f \"$secret\" ] || {{ log_failure_msg \"secret $secret is missing: a switch places it, run one again\"; exit 1; }}\n{BODY}done",
        files.join(" ")
    )))
}
