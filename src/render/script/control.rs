//! The commands that act on a running process: the generated `stop`, `reload` and
//! `status`, and the reload on its own that the logrotate configuration runs.

use super::line::Line;
use super::preamble::{Variables, Words};
use super::step::Step;
use crate::spec::ProcessSpec;

/// The library's own commands, which take its options for services (`-s`) and limits
/// (`-l`); a command the composition replaced gets only the options it always got.
const LIBRARY_COMMANDS: &[&str] = &["start_daemon", "loadproc", "killproc", "statusproc"];

/// Whether `command` (a configured command) is the library's own.
pub(super) fn is_library(command: &str) -> bool {
    LIBRARY_COMMANDS.contains(&command)
}

/// `COMMAND -p PIDFILE -u USER [-s SERVICE] PROGRAM [SIGNAL]`: only a process running as
/// the expected user counts (the caller without `user`); the library's stop and status
/// also look at every process of the service (not for a signal: that is for the
/// process itself).
pub(super) fn control_line(command: &str, words: &Words, signal: Option<&str>) -> Step {
    let line = Line::new(command)
        .option("-p", words.pid_file.as_deref())
        .option("-u", words.run_as.as_deref());
    let line = if signal.is_none() && is_library(command) {
        line.word("-s").word(&words.service)
    } else {
        line
    };
    let line = line.word(words.controlled());
    Step::Command(match signal {
        Some(signal) => line.text(signal).written(),
        None => line.written(),
    })
}

/// Shell code doing what the generated `reload` does, on its own: the global
/// instructions, the variables of the preamble (`vars`), then the reload command; `None`
/// unless the process daemonizes itself and its reload (among the activities `names`)
/// is the generated one.
pub(super) fn standalone_reload(
    spec: &ProcessSpec,
    vars: &Variables,
    words: Option<&Words>,
    names: &[String],
) -> Option<String> {
    let own_reload = names.iter().any(|n| n == "reload")
        && !spec.activities.contains_key("reload")
        && !spec.instructions.contains_key("reload");
    words
        .filter(|_| spec.process_is_daemon && own_reload)
        .map(|words| {
            let mut code = String::new();
            if !spec.global_instructions.trim().is_empty() {
                code.push_str(spec.global_instructions.trim_end());
                code.push('\n');
            }
            vars.write(&mut code);
            let line = control_line(&spec.config.reload_daemon, words, Some(&spec.reload_signal));
            if let Step::Command(command) = line {
                code.push_str(&command);
            }
            code
        })
}
