//! `nixproc-sysvinit-supervise`: runs a foreground program as a supervised daemon (see
//! [`nixproc_sysvinit::tools::supervise`]).

use std::process::ExitCode;

use clap::Parser;
use nixproc_sysvinit::tools::supervise::{self, Options};

fn main() -> ExitCode {
    supervise::main(Options::try_parse())
}
