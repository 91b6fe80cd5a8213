//! The preamble of the script: the global instructions, the variables the generated
//! activities repeat (`PROGRAM=`, `PIDFILE=`...) and the words standing for them, then
//! `PATH`, the environment and the secrets' paths.

use std::fmt::Write as _;

use super::RuntimePaths;
use crate::shell::{quote, variable};
use crate::spec::ProcessSpec;
use crate::tree::layout::secret_path;

/// The preamble's variables: values the generated activities repeat, each set once.
#[derive(Default)]
pub(super) struct Variables<'a> {
    /// `(NAME, value)`, in the order they are assigned.
    assigned: Vec<(&'static str, &'a str)>,
}

impl<'a> Variables<'a> {
    /// Assigns `value` to `name` and returns the word standing for it, `"$NAME"`. When the
    /// description exports a variable of that name itself, that one keeps its value:
    /// `value` is then written out, quoted, wherever it is used.
    pub(super) fn assign(
        &mut self,
        spec: &ProcessSpec,
        name: &'static str,
        value: &'a str,
    ) -> String {
        if spec.environment.contains_key(name) {
            return quote(value).into_owned();
        }
        self.assigned.push((name, value));
        variable(name)
    }

    /// Writes `NAME=value` lines, then a blank line if there were any.
    pub(super) fn write(&self, out: &mut String) {
        for (name, value) in &self.assigned {
            let _ = writeln!(out, "{name}={}", quote(value));
        }
        if !self.assigned.is_empty() {
            out.push('\n');
        }
    }
}

/// The shell words the generated activities use for the values the preamble names.
pub(super) struct Words {
    /// The program (`"$PROGRAM"`).
    pub(super) program: String,
    /// The libslack `daemon` wrapper of a foreground process (`"$WRAPPER"`).
    pub(super) wrapper: Option<String>,
    /// The PID file (`"$PIDFILE"`).
    pub(super) pid_file: Option<String>,
    /// The user the process runs as (`"$RUN_AS"`).
    pub(super) run_as: Option<String>,
    /// The service it is tracked as (`"$SERVICE"`, see [`service_id`](super::service_id)).
    pub(super) service: String,
}

impl Words {
    /// Assigns the values the generated activities of `process` repeat in `vars`.
    pub(super) fn new<'a>(
        spec: &'a ProcessSpec,
        process: &'a str,
        paths: &'a RuntimePaths,
        service: &'a str,
        vars: &mut Variables<'a>,
    ) -> Words {
        let program = vars.assign(spec, "PROGRAM", process);
        let wrapper = (!spec.process_is_daemon)
            .then(|| vars.assign(spec, "WRAPPER", &spec.config.start_process_as_daemon));
        let pid_file = paths
            .pid_file
            .as_deref()
            .map(|pid| vars.assign(spec, "PIDFILE", pid));
        let run_as = spec.user.as_deref().map(|u| vars.assign(spec, "RUN_AS", u));
        let service = vars.assign(spec, "SERVICE", service);
        Words {
            program,
            wrapper,
            pid_file,
            run_as,
            service,
        }
    }

    /// The program whose PID file is checked: for a foreground process, its wrapper.
    pub(super) fn controlled(&self) -> &str {
        self.wrapper.as_deref().unwrap_or(&self.program)
    }
}

/// The global instructions (as written: they stand at the start of the line anyway),
/// the variables, then `PATH` and the environment.
pub(super) fn write_preamble(out: &mut String, spec: &ProcessSpec, vars: &Variables) {
    if !spec.global_instructions.trim().is_empty() {
        out.push_str(spec.global_instructions.trim_end());
        out.push_str("\n\n");
    }
    vars.write(out);
    if !spec.path.is_empty() {
        let bins: Vec<String> = spec.path.iter().map(|p| format!("{p}/bin")).collect();
        let _ = writeln!(
            out,
            "export PATH={}\"${{PATH:+:$PATH}}\"",
            quote(&bins.join(":"))
        );
    }
    for (key, value) in &spec.environment {
        let _ = writeln!(out, "export {key}={}", quote(value));
    }
    for (name, secret) in &spec.secrets {
        let path = secret_path(&spec.config.runtime_dir, &spec.name, name);
        let _ = writeln!(out, "export {}={}", secret.variable, quote(&path));
    }
    if !spec.path.is_empty() || !spec.environment.is_empty() || !spec.secrets.is_empty() {
        out.push('\n');
    }
}
