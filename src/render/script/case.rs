//! The `case` statement of the script: one arm per activity (its message, its steps,
//! the evaluate command), then the usage arm naming them all.

use std::fmt::Write as _;

use super::step::{Activity, Step};
use super::{ARM, BODY};
use crate::shell::quote;
use crate::spec::ProcessSpec;

/// Writes the `case` on the first argument: an arm for each of `all`, in order, then
/// the usage arm. Returns the activities' names, in that order.
pub(super) fn write_case(
    out: &mut String,
    spec: &ProcessSpec,
    all: Vec<(String, Activity)>,
) -> Vec<String> {
    out.push_str("case \"$1\" in\n");
    for (name, activity) in &all {
        write_arm(out, spec, name, activity);
    }
    let names: Vec<String> = all.into_iter().map(|(n, _)| n).collect();
    write_usage(out, &names);
    names
}

/// The last arm, for any other argument: the usage naming the activities `names`, exit
/// status 2; then the end of the `case`.
fn write_usage(out: &mut String, names: &[String]) {
    let _ = writeln!(out, "{ARM}*)");
    let _ = writeln!(out, "{BODY}echo \"Usage: $0 {{{}}}\" >&2", names.join("|"));
    let _ = writeln!(out, "{BODY}exit 2\n{BODY};;\nesac");
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
    use crate::render::script::step::written;

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
