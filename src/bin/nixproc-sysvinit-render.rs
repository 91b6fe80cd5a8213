//! `nixproc-sysvinit-render`: renders one process description (JSON) into its process
//! tree, or prints the rendering as JSON. This is the build-time path used when the Nix
//! plugin is not loaded; its output is the reference the plugin must match.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

/// Render a process description into an init.d script, rc.d links, credentials and manifest.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The JSON process description; `-` or nothing reads standard input.
    spec: Option<PathBuf>,
    /// Write the process tree into this directory (created if missing).
    #[arg(long, short, conflicts_with = "json", required_unless_present = "json")]
    out: Option<PathBuf>,
    /// Print the rendering (script, links, sequence, credentials, manifest) as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let text = match args.spec.as_deref() {
        None => read_stdin()?,
        Some(p) if p.as_os_str() == "-" => read_stdin()?,
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
    };
    let spec = nixproc_sysvinit::spec::parse_json(&text)?;
    let rendered = nixproc_sysvinit::render::render(&spec)?;
    match args.out {
        Some(out) => nixproc_sysvinit::render::write_tree(&rendered, &out)
            .with_context(|| format!("cannot write the process tree to {}", out.display()))?,
        None => println!("{}", serde_json::to_string(&rendered)?),
    }
    Ok(())
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the process description from standard input")?;
    Ok(text)
}
