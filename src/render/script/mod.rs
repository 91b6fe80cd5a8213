//! The init.d script: LSB header, preamble, activities and the usage case.
//!
//! The script reads like a hand-written one: the preamble sets the values the activities
//! repeat once (`PROGRAM=`, `PIDFILE=`...), the activities use them (`"$PIDFILE"`), and
//! the `case` arms and their bodies are indented. Shell code the user wrote that spans
//! several lines is the exception: it is inserted as written, from the start of the line,
//! because indenting it would change its here-documents (their bodies and terminators)
//! and any quoted text spanning lines. A comment in the script says so.

//! This file puts the parts together; each part is written by its own module: `header`
//! (the interpreter line and the LSB header), `preamble` (the global instructions, the
//! variables and the environment), `activities` (which activities there are, and what
//! each generated one does), `start` (the body of the generated `start`), `control` (the
//! stop, reload and status commands), `line` (how a generated command line is broken)
//! and `case` (the `case` statement: one arm per activity, then the usage arm).

mod activities;
mod case;
mod control;
mod header;
mod line;
mod preamble;
mod start;
mod step;

pub use crate::render::layout::{runtime_paths, service_id, RuntimePaths};
use crate::spec::ProcessSpec;
use activities::activities;
use case::write_case;
use control::standalone_reload;
use header::write_header;
use preamble::{write_preamble, Variables, Words};

/// Indentation of a `case` arm.
const ARM: &str = "    ";
/// Indentation of the commands of an arm, and of its `;;`.
const BODY: &str = "        ";

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
    let names = write_case(&mut out, spec, activities(spec, words.as_ref(), paths));
    let reload = standalone_reload(spec, &vars, words.as_ref(), &names);
    Rendering {
        text: out,
        activities: names,
        reload,
    }
}
