//! `nixproc-sysvinit-render`: renders process descriptions into process trees, or prints
//! a rendering as JSON (see [`nixproc_sysvinit::tools::render`]).

use clap::Parser;
use nixproc_sysvinit::tools::render::{self, Options};

fn main() -> anyhow::Result<()> {
    render::main(Options::parse())
}
