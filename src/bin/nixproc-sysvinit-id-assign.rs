//! `nixproc-sysvinit-id-assign`: assigns unique ids to the instances of a processes
//! model, as nix-processmgmt's `nixproc-id-assign` does (see
//! [`nixproc_sysvinit::tools::id_assign`]).

use std::process::ExitCode;

use clap::Parser;
use nixproc_sysvinit::tools::id_assign::{self, Options};

fn main() -> ExitCode {
    id_assign::main(&Options::parse())
}
