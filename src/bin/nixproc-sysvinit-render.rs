//! `nixproc-sysvinit-render`: renders one process description (JSON) into its process
//! tree, or prints the rendering as JSON. This is the build-time path used when the Nix
//! plugin is not loaded; its output is the reference the plugin must match.
//!
//! With `--rendered`, the input is instead a JSON list of renderings (what
//! `builtins.sysvinitScript` returns, e.g. through `builtins.toJSON`), and all their trees
//! are written below `--out` in one run: the profile builder's fast path.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use nixproc_sysvinit::render::{write_tree, Rendered};

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
    /// The input is a JSON list of renderings; write each one's tree below `--out`.
    #[arg(long, requires = "out")]
    rendered: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let text = match args.spec.as_deref() {
        None => read_stdin()?,
        Some(p) if p.as_os_str() == "-" => read_stdin()?,
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
    };
    if args.rendered {
        let out = args.out.as_deref().context("--rendered needs --out")?;
        return write_renderings(&text, out);
    }
    let spec = nixproc_sysvinit::spec::parse_json(&text)?;
    let rendered = nixproc_sysvinit::render::render(&spec)?;
    match args.out {
        Some(out) => write_tree(&rendered, &out)
            .with_context(|| format!("cannot write the process tree to {}", out.display()))?,
        None => println!("{}", serde_json::to_string(&rendered)?),
    }
    Ok(())
}

/// Writes the trees of a JSON list of renderings into one directory; two renderings
/// that write the same file are an error naming it.
fn write_renderings(text: &str, out: &std::path::Path) -> Result<()> {
    let renderings: Vec<Rendered> =
        serde_json::from_str(text).context("--rendered expects a JSON list of renderings")?;
    let mut names = std::collections::BTreeSet::new();
    for rendered in &renderings {
        if !names.insert(rendered.name.as_str()) {
            anyhow::bail!("two renderings are named '{}'", rendered.name);
        }
        write_tree(rendered, out).with_context(|| {
            format!(
                "cannot write the tree of '{}' to {}",
                rendered.name,
                out.display()
            )
        })?;
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
