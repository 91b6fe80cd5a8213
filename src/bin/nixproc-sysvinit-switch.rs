//! `nixproc-sysvinit-switch`: deploys a processes model or a prebuilt profile as a
//! transaction and manages the profile's generations (see [`nixproc_sysvinit::tools::switch`]).

use std::process::ExitCode;

use clap::Parser;
use nixproc_sysvinit::tools::switch::{self, Options};

fn main() -> ExitCode {
    switch::main(&Options::parse())
}
