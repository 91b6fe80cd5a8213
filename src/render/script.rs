//! The init.d script: LSB header, preamble, activities and the usage case.

use std::fmt::Write as _;

pub use super::layout::{runtime_paths, RuntimePaths};
use super::shell::{comment_text, quote, quote_words};
use crate::spec::{ProcessSpec, ReadinessCheck};

/// How one activity is written.
enum Activity {
    /// A message, the instruction, then the evaluate command.
    Instruction { verb: String, code: String },
    /// Shell code as it is.
    Raw(String),
}

/// The order activities appear in: the usual five first, then the rest alphabetically.
const PREFERRED_ORDER: [&str; 5] = ["start", "stop", "reload", "restart", "status"];

/// Activities generated from `process`, then replaced by `instructions`, then by
/// `activities`, minus `removeActivities`; in [`PREFERRED_ORDER`].
fn activities(spec: &ProcessSpec, paths: &RuntimePaths) -> Vec<(String, Activity)> {
    let mut all: Vec<(String, Activity)> = Vec::new();
    let mut put = |name: &str, activity: Activity| {
        all.retain(|(n, _)| n != name);
        all.push((name.to_string(), activity));
    };
    if let Some(process) = &spec.process {
        for (name, activity) in generated_activities(spec, process, paths) {
            put(name, activity);
        }
    }
    for (name, instr) in &spec.instructions {
        put(
            name,
            Activity::Instruction {
                verb: instr.activity.clone(),
                code: instr.instruction.clone(),
            },
        );
    }
    for (name, code) in &spec.activities {
        put(name, Activity::Raw(code.clone()));
    }
    all.retain(|(name, _)| !spec.remove_activities.contains(name));
    all.sort_by(|(a, _), (b, _)| {
        let rank = |n: &str| PREFERRED_ORDER.iter().position(|p| *p == n).unwrap_or(99);
        rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
    });
    all
}

fn generated_activities(
    spec: &ProcessSpec,
    process: &str,
    paths: &RuntimePaths,
) -> Vec<(&'static str, Activity)> {
    let config = &spec.config;
    let pid_option = |out: &mut Vec<String>| {
        if let Some(pid) = &paths.pid_file {
            out.push("-p".into());
            out.push(pid.clone());
        }
    };
    // The program whose PID file is checked: for foreground processes, the wrapper.
    let controlled = if spec.process_is_daemon {
        process.to_string()
    } else {
        config.start_process_as_daemon.clone()
    };

    let mut start = String::new();
    if !spec.initialize.trim().is_empty() {
        start.push_str(spec.initialize.trim_end());
        start.push('\n');
    }
    let mut words: Vec<String> = Vec::new();
    if spec.process_is_daemon {
        if let Some(mask) = &spec.umask {
            let _ = writeln!(start, "umask {mask}");
        }
        if let Some(dir) = &spec.directory {
            let _ = write!(start, "cd -- {} && ", quote(dir));
        }
        if let Some(nice) = spec.nice {
            words.extend(["-n".into(), nice.to_string()]);
        }
        pid_option(&mut words);
        if let Some(user) = &spec.user {
            words.extend(["-u".into(), user.clone()]);
        }
        words.push(process.to_string());
        words.extend(spec.args.iter().cloned());
        let _ = write!(
            start,
            "{} {}",
            config.start_daemon,
            quote_words(words.iter().map(String::as_str))
        );
    } else {
        words.extend(["-D".into(), config.start_process_as_daemon.clone()]);
        pid_option(&mut words);
        if let Some(nice) = spec.nice {
            words.extend(["-n".into(), nice.to_string()]);
        }
        if let Some(user) = &spec.user {
            words.extend(["-u".into(), user.clone()]);
        }
        if let Some(log) = &paths.log_file {
            words.extend(["-o".into(), log.clone()]);
        }
        if let Some(dir) = &spec.directory {
            words.extend(["-C".into(), dir.clone()]);
        }
        if let Some(mask) = &spec.umask {
            words.extend(["-m".into(), mask.clone()]);
        }
        words.push("--".into());
        words.push(process.to_string());
        words.extend(spec.args.iter().cloned());
        let _ = write!(
            start,
            "start_foreground {}",
            quote_words(words.iter().map(String::as_str))
        );
    }
    if let Some(ready) = &spec.readiness {
        let mut check: Vec<String> = Vec::new();
        pid_option(&mut check);
        check.extend(["-t".into(), ready.timeout.to_string()]);
        match &ready.check {
            ReadinessCheck::Tcp { host, port } => {
                check.extend(["-H".into(), host.clone(), "-P".into(), port.to_string()])
            }
            ReadinessCheck::Command(cmd) => check.extend(["-c".into(), cmd.clone()]),
        }
        let _ = write!(
            start,
            " && wait_ready {}",
            quote_words(check.iter().map(String::as_str))
        );
    }

    // Only a process running as the expected user counts (the caller without `user`).
    let control = |command: &str, signal: Option<&str>| {
        let mut words = Vec::new();
        pid_option(&mut words);
        if let Some(user) = &spec.user {
            words.extend(["-u".into(), user.clone()]);
        }
        words.push(controlled.clone());
        words.extend(signal.map(str::to_string));
        format!(
            "{command} {}",
            quote_words(words.iter().map(String::as_str))
        )
    };
    let mut generated = vec![
        (
            "start",
            Activity::Instruction {
                verb: "Starting".into(),
                code: start,
            },
        ),
        (
            "stop",
            Activity::Instruction {
                verb: "Stopping".into(),
                code: control(&config.stop_daemon, None),
            },
        ),
    ];
    if spec.process_is_daemon {
        generated.push((
            "reload",
            Activity::Instruction {
                verb: "Reloading".into(),
                code: control(&config.reload_daemon, Some(&spec.reload_signal)),
            },
        ));
    }
    generated.push(("restart", Activity::Raw(config.restart_activity.clone())));
    generated.push((
        "status",
        Activity::Raw(control(&config.status_command, None)),
    ));
    generated
}

/// Renders the whole init.d script; returns its text and its activity names in order.
pub fn render(spec: &ProcessSpec, paths: &RuntimePaths) -> (String, Vec<String>) {
    let config = &spec.config;
    let mut out = String::with_capacity(2048);
    let levels = |levels: &[u8]| {
        levels
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let deps = spec
        .dependencies
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let short = spec.description.lines().next().unwrap_or_default();
    let _ = writeln!(out, "#!{}", config.shell);
    let _ = writeln!(
        out,
        "# Init script of '{}', generated by nixproc-sysvinit from a Nix expression.\n",
        spec.name
    );
    out.push_str("### BEGIN INIT INFO\n");
    header_field(&mut out, "Provides", &spec.name);
    header_field(&mut out, "Required-Start", &deps);
    header_field(&mut out, "Required-Stop", &deps);
    header_field(&mut out, "Default-Start", &levels(&spec.default_start));
    header_field(&mut out, "Default-Stop", &levels(&spec.default_stop));
    header_field(&mut out, "Short-Description", &comment_text(short));
    header_field(&mut out, "Description", &comment_text(&spec.description));
    out.push_str("### END INIT INFO\n\n");

    if !spec.global_instructions.trim().is_empty() {
        out.push_str(spec.global_instructions.trim_end());
        out.push_str("\n\n");
    }
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
    if !spec.path.is_empty() || !spec.environment.is_empty() {
        out.push('\n');
    }

    let all = activities(spec, paths);
    out.push_str("case \"$1\" in\n");
    for (name, activity) in &all {
        let _ = writeln!(out, "{name})");
        match activity {
            Activity::Instruction { verb, code } => {
                let message = format!("{verb} {}...", spec.description);
                let _ = writeln!(out, "log_info_msg {}", quote(&message));
                push_code(&mut out, code);
                let _ = writeln!(out, "{}", config.evaluate_command);
            }
            Activity::Raw(code) => push_code(&mut out, code),
        }
        out.push_str(";;\n");
    }
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    let _ = writeln!(
        out,
        "*)\necho \"Usage: $0 {{{}}}\" >&2\nexit 2\n;;\nesac",
        names.join("|")
    );
    let names = names.into_iter().map(str::to_string).collect();
    (out, names)
}

fn header_field(out: &mut String, key: &str, value: &str) {
    out.push_str("# ");
    out.push_str(key);
    out.push(':');
    if !value.is_empty() {
        // Values line up in one column, as in hand-written LSB headers.
        for _ in key.len() + 1..19 {
            out.push(' ');
        }
        out.push_str(value);
    }
    out.push('\n');
}

/// Appends shell code with exactly one trailing newline (and `:` for empty code, so
/// the case branch stays valid shell).
fn push_code(out: &mut String, code: &str) {
    let code = code.trim_end_matches(['\n', ' ', '\t']);
    if code.trim().is_empty() {
        out.push_str(":\n");
    } else {
        out.push_str(code);
        out.push('\n');
    }
}
