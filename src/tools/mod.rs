//! What the command-line tools do, each behind its options: a binary in `src/bin/`
//! parses its options (defined here, with clap) and makes one call.
//!
//! - [`switch`]: `nixproc-sysvinit-switch`, a deployment's transaction and generations,
//!   here or on other hosts;
//! - [`runactivity`]: `nixproc-sysvinit-runactivity`, one activity on every process of a
//!   deployment, its logs, or its confirmation;
//! - [`render`], [`supervise`], [`id_assign`]: the renderer's command line, the
//!   supervisor's, and the id assigner's;
//! - [`options`]: the option groups the tools share.
//!
//! The switch and runactivity decide once, from their flags, what the invocation does ([`switch::Operation`],
//! [`runactivity::Activity`]); the same typed value runs it here and gives the arguments
//! the tool takes on a target host.

pub mod id_assign;
pub mod options;
pub mod render;
pub mod runactivity;
pub mod supervise;
pub mod switch;

use crate::deploy::tool_dir::{self, StateOptions, ToolDir};

/// The tool directory `state` names, opened (see [`tool_dir::open`]): what it waits for
/// is said on standard error unless `quiet`, and what state of an earlier version moved
/// in always.
fn open_tool_dir(state: &StateOptions, quiet: bool) -> anyhow::Result<ToolDir> {
    let opened = tool_dir::open(state, &mut |line| {
        if !quiet {
            eprintln!("{line}");
        }
    })?;
    for line in &opened.moved {
        eprintln!("{line}");
    }
    Ok(opened.dir)
}
