//! The init.d script: LSB header, preamble, activities and the usage case.
//!
//! The script reads like a hand-written one: the preamble sets the values the activities
//! repeat once (`PROGRAM=`, `PIDFILE=`...), the activities use them (`"$PIDFILE"`), and
//! the `case` arms and their bodies are indented. Shell code the user wrote that spans
//! several lines is the exception: it is inserted as written, from the start of the line,
//! because indenting it would change its here-documents (their bodies and terminators)
//! and any quoted text spanning lines. A comment in the script says so.

use std::fmt::Write as _;

pub use super::layout::{runtime_paths, service_id, RuntimePaths};
use crate::shell::{comment_text, quote, variable};
use crate::spec::{limit_words, ProcessSpec, ReadinessCheck, DEFAULT_RESTART_ACTIVITY};
use crate::tree::layout::secret_path;

/// The library's own commands, which take its options for services (`-s`) and limits
/// (`-l`); a command the composition replaced gets only the options it always got.
const LIBRARY_COMMANDS: &[&str] = &["start_daemon", "loadproc", "killproc", "statusproc"];

/// Whether `command` (a configured command) is the library's own.
fn is_library(command: &str) -> bool {
    LIBRARY_COMMANDS.contains(&command)
}

/// Indentation of a `case` arm.
const ARM: &str = "    ";
/// Indentation of the commands of an arm, and of its `;;`.
const BODY: &str = "        ";

/// One step of an activity.
enum Step {
    /// A command the renderer wrote, its words quoted; it spans lines only inside quotes
    /// or after `&&`, where its next line carries its own indentation.
    Command(String),
    /// Shell code the user wrote, and the attribute it comes from (for the comment).
    Written { source: String, code: String },
}

/// How one activity is written.
enum Activity {
    /// A message, the steps, then the evaluate command.
    Instruction { verb: String, steps: Vec<Step> },
    /// The steps alone.
    Plain(Vec<Step>),
}

/// The order activities appear in: the usual five first, then the rest alphabetically.
const PREFERRED_ORDER: [&str; 5] = ["start", "stop", "reload", "restart", "status"];

/// Activities generated from `process`, then replaced by `instructions`, then by
/// `activities`, minus `removeActivities`; in [`PREFERRED_ORDER`].
fn activities(
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

/// A step of user code from the attribute `source`.
fn written(source: String, code: &str) -> Step {
    Step::Written {
        source,
        code: code.to_string(),
    }
}

/// The preamble's variables: values the generated activities repeat, each set once.
#[derive(Default)]
struct Variables<'a> {
    /// `(NAME, value)`, in the order they are assigned.
    assigned: Vec<(&'static str, &'a str)>,
}

impl<'a> Variables<'a> {
    /// Assigns `value` to `name` and returns the word standing for it, `"$NAME"`. When the
    /// description exports a variable of that name itself, that one keeps its value:
    /// `value` is then written out, quoted, wherever it is used.
    fn assign(&mut self, spec: &ProcessSpec, name: &'static str, value: &'a str) -> String {
        if spec.environment.contains_key(name) {
            return quote(value).into_owned();
        }
        self.assigned.push((name, value));
        variable(name)
    }

    /// Writes `NAME=value` lines, then a blank line if there were any.
    fn write(&self, out: &mut String) {
        for (name, value) in &self.assigned {
            let _ = writeln!(out, "{name}={}", quote(value));
        }
        if !self.assigned.is_empty() {
            out.push('\n');
        }
    }
}

/// The shell words the generated activities use for the values the preamble names.
struct Words {
    /// The program (`"$PROGRAM"`).
    program: String,
    /// The libslack `daemon` wrapper of a foreground process (`"$WRAPPER"`).
    wrapper: Option<String>,
    /// The PID file (`"$PIDFILE"`).
    pid_file: Option<String>,
    /// The user the process runs as (`"$RUN_AS"`).
    run_as: Option<String>,
    /// The service it is tracked as (`"$SERVICE"`, see [`service_id`]).
    service: String,
}

impl Words {
    /// Assigns the values the generated activities of `process` repeat in `vars`.
    fn new<'a>(
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
    fn controlled(&self) -> &str {
        self.wrapper.as_deref().unwrap_or(&self.program)
    }
}

/// A generated command line, built word by word.
struct Line(Vec<String>);

/// Where a command chained after `&&` on the line before starts.
const CHAINED: usize = BODY.len() + 4;

/// The widest a generated command line is written before it continues on the next line.
const LINE_WIDTH: usize = 92;

impl Line {
    /// Starts a line with a command name from the configuration, as written there.
    fn new(command: &str) -> Line {
        Line(vec![command.to_string()])
    }

    /// Appends a word already in shell form (a variable, an option, a number).
    fn word(mut self, word: &str) -> Line {
        self.0.push(word.to_string());
        self
    }

    /// Appends a text, quoted.
    fn text(self, text: &str) -> Line {
        self.word(&quote(text))
    }

    /// Appends `flag` and a word in shell form, when there is one.
    fn option(self, flag: &str, word: Option<&str>) -> Line {
        match word {
            Some(word) => self.word(flag).word(word),
            None => self,
        }
    }

    /// Appends `flag` and a text, quoted, when there is one.
    fn text_option(self, flag: &str, text: Option<&str>) -> Line {
        match text {
            Some(text) => self.word(flag).text(text),
            None => self,
        }
    }

    /// Appends every text, quoted.
    fn texts(self, texts: &[String]) -> Line {
        texts.iter().fold(self, |line, t| line.text(t))
    }

    /// The words joined by blanks, for a line starting at the activity's indentation.
    fn written(self) -> String {
        self.written_at(BODY.len())
    }

    /// The words joined by blanks, for a line starting at column `indent`; past
    /// [`LINE_WIDTH`] the line continues after a backslash, indented once more. A word
    /// stays whole (a quoted word spanning lines counts from its last line), and an
    /// option (or `--`) stays with the word after it.
    fn written_at(self, indent: usize) -> String {
        let mut out = String::new();
        let mut column = indent;
        let mut words = self.0.into_iter();
        while let Some(word) = words.next() {
            let mut unit = word;
            // An option and its argument go together.
            if unit.starts_with('-') && unit.len() == 2 {
                if let Some(arg) = words.next() {
                    unit = format!("{unit} {arg}");
                }
            }
            let width = unit.lines().next().map_or(0, str::len);
            if !out.is_empty() {
                if column + 1 + width > LINE_WIDTH {
                    let _ = write!(out, " \\\n{:1$}", "", indent + 4);
                    column = indent + 4;
                } else {
                    out.push(' ');
                    column += 1;
                }
            }
            column = match unit.rfind('\n') {
                Some(i) => unit.len() - i - 1,
                None => column + width,
            };
            out.push_str(&unit);
        }
        out
    }
}

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
fn start_steps(spec: &ProcessSpec, words: &Words, paths: &RuntimePaths) -> Vec<Step> {
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

/// `COMMAND -p PIDFILE -u USER [-s SERVICE] PROGRAM [SIGNAL]`: only a process running as
/// the expected user counts (the caller without `user`); the library's stop and status
/// also look at every process of the service (not for a signal: that is for the
/// process itself).
fn control_line(command: &str, words: &Words, signal: Option<&str>) -> Step {
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

/// A rendered script.
pub struct Rendering {
    /// The script's text.
    pub text: String,
    /// Its activities, in order.
    pub activities: Vec<String>,
    /// Shell code doing what its generated `reload` does, on its own: the global
    /// instructions and variables of its preamble, then the reload command (for the
    /// logrotate configuration); `None` when its reload is not the generated one.
    pub reload: Option<String>,
}

/// Renders the whole init.d script.
pub fn render(spec: &ProcessSpec, paths: &RuntimePaths) -> Rendering {
    let mut out = String::with_capacity(2048);
    write_header(&mut out, spec);
    let mut vars = Variables::default();
    let service = service_id(spec);
    let words = spec
        .process
        .as_deref()
        .map(|process| Words::new(spec, process, paths, &service, &mut vars));
    write_preamble(&mut out, spec, &vars);
    let all = activities(spec, words.as_ref(), paths);
    out.push_str("case \"$1\" in\n");
    for (name, activity) in &all {
        write_arm(&mut out, spec, name, activity);
    }
    let names: Vec<String> = all.into_iter().map(|(n, _)| n).collect();
    let _ = writeln!(out, "{ARM}*)");
    let _ = writeln!(out, "{BODY}echo \"Usage: $0 {{{}}}\" >&2", names.join("|"));
    let _ = writeln!(out, "{BODY}exit 2\n{BODY};;\nesac");
    let own_reload = names.iter().any(|n| n == "reload")
        && !spec.activities.contains_key("reload")
        && !spec.instructions.contains_key("reload");
    let reload = words
        .as_ref()
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
        });
    Rendering {
        text: out,
        activities: names,
        reload,
    }
}

/// The interpreter line, the generated-by comment and the LSB header.
fn write_header(out: &mut String, spec: &ProcessSpec) {
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
    let _ = writeln!(out, "#!{}", spec.config.shell);
    let _ = writeln!(
        out,
        "# Init script of '{}', generated by nixproc-sysvinit from a Nix expression.\n",
        spec.name
    );
    out.push_str("### BEGIN INIT INFO\n");
    header_field(out, "Provides", &spec.name);
    header_field(out, "Required-Start", &deps);
    header_field(out, "Required-Stop", &deps);
    header_field(out, "Default-Start", &levels(&spec.default_start));
    header_field(out, "Default-Stop", &levels(&spec.default_stop));
    header_field(out, "Short-Description", &comment_text(short));
    header_field(out, "Description", &comment_text(&spec.description));
    out.push_str("### END INIT INFO\n\n");
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

/// The global instructions (as written: they stand at the start of the line anyway),
/// the variables, then `PATH` and the environment.
fn write_preamble(out: &mut String, spec: &ProcessSpec, vars: &Variables) {
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

/// One arm of the `case`, followed by a blank line.
fn write_arm(out: &mut String, spec: &ProcessSpec, name: &str, activity: &Activity) {
    let _ = writeln!(out, "{ARM}{name})");
    match activity {
        Activity::Instruction { verb, steps } => {
            let message = format!("{verb} {}...", spec.description);
            let _ = writeln!(out, "{BODY}log_info_msg {}", quote(&message));
            steps.iter().for_each(|step| write_step(out, step));
            let _ = writeln!(out, "{BODY}{}", spec.config.evaluate_command);
        }
        Activity::Plain(steps) => steps.iter().for_each(|step| write_step(out, step)),
    }
    let _ = writeln!(out, "{BODY};;\n");
}

/// Writes one step with exactly one trailing newline.
///
/// User code of one line is indented like the rest: blanks before a command never change
/// it. User code of several lines is written as it is, from the start of the line, after
/// a comment saying why; empty code becomes `:` so that the arm stays valid shell.
fn write_step(out: &mut String, step: &Step) {
    let (source, code) = match step {
        Step::Command(command) => {
            let _ = writeln!(out, "{BODY}{command}");
            return;
        }
        Step::Written { source, code } => (source, code),
    };
    let code = code.trim_end_matches(['\n', ' ', '\t']);
    if code.trim().is_empty() {
        let _ = writeln!(out, "{BODY}:");
    } else if !code.contains('\n') {
        let _ = writeln!(out, "{BODY}{}", code.trim_start_matches([' ', '\t']));
    } else {
        let _ = writeln!(
            out,
            "{BODY}# {source} as written, not indented: that could change a here-document in it."
        );
        out.push_str(code);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(code: &str) -> String {
        let mut out = String::new();
        write_step(&mut out, &written("activities.x".into(), code));
        out
    }

    #[test]
    fn user_code_of_one_line_is_indented() {
        assert_eq!(
            step("  statusproc foo\n"),
            format!("{BODY}statusproc foo\n")
        );
        assert_eq!(step(" \n"), format!("{BODY}:\n"));
    }

    #[test]
    fn user_code_of_several_lines_is_kept_as_written_after_a_comment() {
        let code = "cat <<-EOF\n\tbody\n\tEOF\n\n";
        assert_eq!(
            step(code),
            format!(
                "{BODY}# activities.x as written, not indented: that could change a here-document in it.\n\
                 cat <<-EOF\n\tbody\n\tEOF\n"
            )
        );
    }
}
