//! `nixproc-sysvinit-render`: renders one process description (JSON) into its process
//! tree, or prints the rendering as JSON. This is the build-time path used when the Nix
//! plugin is not loaded; its output is the reference the plugin must match.
//!
//! The profile builder writes whole profiles in one run, below `--out`:
//! - with `--specs`, from the process descriptions `createSystemVInitScript` validated
//!   at evaluation time: a JSON list, or `{ config, processes }` when they share one
//!   composition's settings;
//! - with `--rendered`, from a JSON list of renderings (what `builtins.sysvinitScript`
//!   returned at evaluation time, through `builtins.toJSON`).

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

use crate::render::{write_tree, Rendered};

/// Render a process description into an init.d script, rc.d links, credentials and manifest.
#[derive(Parser)]
#[command(name = "nixproc-sysvinit-render", version)]
pub struct Options {
    /// The JSON process description; `-` or nothing reads standard input.
    spec: Option<PathBuf>,
    /// Write the process tree into this directory (created if missing).
    #[arg(long, short, conflicts_with = "json", required_unless_present = "json")]
    out: Option<PathBuf>,
    /// Print the rendering (script, links, sequence, credentials, manifest) as JSON.
    #[arg(long)]
    json: bool,
    /// The input is a JSON list of renderings; write each one's tree below `--out`.
    #[arg(long, requires = "out", conflicts_with = "specs")]
    rendered: bool,
    /// The input is a JSON list of process descriptions; render each one and write its
    /// tree below `--out`.
    #[arg(long, requires = "out")]
    specs: bool,
}

/// Renders as `args` say: one description into a tree or as JSON, or (`--specs`,
/// `--rendered`) a whole profile's trees below `--out`.
pub fn main(args: Options) -> Result<()> {
    let text = match args.spec.as_deref() {
        None => read_stdin()?,
        Some(p) if p.as_os_str() == "-" => read_stdin()?,
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
    };
    if args.rendered || args.specs {
        let out = args
            .out
            .as_deref()
            .context("--rendered and --specs need --out")?;
        let renderings = if args.specs {
            render_specs(&text)?
        } else {
            serde_json::from_str(&text).context("--rendered expects a JSON list of renderings")?
        };
        return write_renderings(&renderings, out);
    }
    let spec = crate::spec::parse_json(&text)?;
    let rendered = crate::render::render(&spec)?;
    match args.out {
        Some(out) => write_tree(&rendered, &out)
            .with_context(|| format!("cannot write the process tree to {}", out.display()))?,
        None => println!("{}", serde_json::to_string(&JsonOutput::new(&rendered))?),
    }
    Ok(())
}

/// What `--json` prints: the rendering and, as `runtimeFiles`, its claims on run-time
/// files (claim file name: text), exactly as `builtins.sysvinitScript` returns them.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonOutput<'a> {
    #[serde(flatten)]
    rendered: &'a Rendered,
    runtime_files: std::collections::BTreeMap<String, String>,
}

impl<'a> JsonOutput<'a> {
    /// The output of `rendered`.
    fn new(rendered: &'a Rendered) -> Self {
        let runtime_files = crate::render::runtime_claims(rendered)
            .into_iter()
            .map(|c| (c.name, c.text))
            .collect();
        JsonOutput {
            rendered,
            runtime_files,
        }
    }
}

/// What `--specs` reads: a list of process descriptions, or descriptions that share one
/// composition's settings, which then travel once.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum SpecChunk {
    /// Each description carries its own `config` (or none).
    List(Vec<serde_json::Value>),
    /// `config` applies to every description of `processes`.
    Shared {
        config: serde_json::Value,
        processes: Vec<serde_json::Value>,
    },
}

/// Renders every process description of a chunk; the first error names its process.
fn render_specs(text: &str) -> Result<Vec<Rendered>> {
    let chunk: SpecChunk = serde_json::from_str(text)
        .context("--specs expects a JSON list of process descriptions, or { config, processes }")?;
    let (config, mut specs) = match chunk {
        SpecChunk::List(specs) => (None, specs),
        SpecChunk::Shared { config, processes } => (Some(config), processes),
    };
    specs
        .iter_mut()
        .map(|spec| {
            if let (Some(config), Some(object)) = (&config, spec.as_object_mut()) {
                object.insert("config".to_string(), config.clone());
            }
            Ok(crate::render::render_value(spec)?)
        })
        .collect()
}

/// Writes the trees of several renderings into one directory; two renderings with one
/// name, or that write the same file differently, are an error naming it.
fn write_renderings(renderings: &[Rendered], out: &std::path::Path) -> Result<()> {
    let mut names = std::collections::BTreeSet::new();
    for rendered in renderings {
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

/// Standard input, whole.
fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the process description from standard input")?;
    Ok(text)
}
