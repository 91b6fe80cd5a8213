//! `nixproc-sysvinit-runactivity`: runs one activity on every process of a deployment,
//! shows their logs or confirms the deployment (see
//! [`nixproc_sysvinit::tools::runactivity`]).

use std::process::ExitCode;

use clap::Parser;
use nixproc_sysvinit::tools::runactivity::{self, Options};

fn main() -> ExitCode {
    runactivity::main(&Options::parse())
}
