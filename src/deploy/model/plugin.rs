//! The evaluator plugin: which one a build loads ([`resolve_plugin`]) and whether it
//! works in the Nix at hand ([`probe_plugin`], [`usable_plugin`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::nix::{nix_command, PLUGIN_FILES};
use crate::deploy::{DeployError, Result};

/// File name of the evaluator plugin, as cargo builds it.
pub const PLUGIN_FILE_NAME: &str = "libnixproc_sysvinit_plugin.so";

/// The evaluator plugin a build loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Plugin {
    /// No plugin: scripts are rendered at build time.
    #[default]
    None,
    /// The plugin installed next to the tool. When it cannot register its primop in the
    /// Nix at hand (built for another Nix, or a statically linked `nix`), the build renders
    /// at build time after a one-line notice.
    Found(PathBuf),
    /// The plugin named by `--plugin PATH` (or `NIXPROC_PLUGIN`): it must work, or the
    /// build fails.
    Named(PathBuf),
}

/// Chooses the evaluator plugin: `setting` is the `--plugin` value (or
/// `NIXPROC_PLUGIN`): a path, or `none` to render at build time. Without a setting, the
/// plugin next to the running executable is used when it is there (as in a cargo build
/// or an installed package's `bin/` and `lib/`).
pub fn resolve_plugin(setting: Option<&str>) -> Plugin {
    match setting {
        Some("none") | Some("") => Plugin::None,
        Some(path) => Plugin::Named(PathBuf::from(path)),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| {
                let bin = exe.parent()?.to_path_buf();
                [
                    bin.join(PLUGIN_FILE_NAME),
                    bin.join("../lib").join(PLUGIN_FILE_NAME),
                ]
                .into_iter()
                .find(|p| p.is_file())
            })
            .map_or(Plugin::None, Plugin::Found),
    }
}

/// Why a plugin cannot render in the Nix at hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginUnusable {
    /// The plugin's path.
    pub plugin: PathBuf,
    /// What Nix or the plugin said (one line), or what was observed.
    pub reason: String,
}

impl std::fmt::Display for PluginUnusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the evaluator plugin {} cannot be used: {}",
            self.plugin.display(),
            self.reason
        )
    }
}

/// Whether `plugin` registers `builtins.sysvinitScript` in the `nix-instantiate` on PATH:
/// a plugin loads into any Nix whose symbols it finds, yet registers nothing when it was
/// built for another version (it says so on stderr) or when the `nix` binary is linked
/// statically (it then fills a separate library's table, silently). The probe evaluates
/// `builtins ? sysvinitScript` with the plugin loaded and a store that needs no daemon
/// and no database.
pub fn probe_plugin(plugin: &Path) -> std::result::Result<(), PluginUnusable> {
    let unusable = |reason: String| PluginUnusable {
        plugin: plugin.to_path_buf(),
        reason,
    };
    if !plugin.is_file() {
        return Err(unusable("the file does not exist".into()));
    }
    let options = [
        (
            PLUGIN_FILES.to_string(),
            plugin.to_string_lossy().into_owned(),
        ),
        ("store".to_string(), "dummy://".to_string()),
    ];
    let mut cmd = nix_command("nix-instantiate", &options);
    cmd.args(["--eval", "-E", "builtins ? sysvinitScript"])
        .stdin(Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| unusable(format!("cannot run nix-instantiate: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The first line that says something: Nix's load error or the plugin's own refusal.
    let said = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| {
            l.trim_start_matches("error: ")
                .trim_start_matches("warning: ")
                .to_string()
        });
    match (out.status.success(), stdout.trim()) {
        (true, "true") => Ok(()),
        (true, _) => Err(unusable(said.unwrap_or_else(|| {
            "it loads but registers no builtins.sysvinitScript (a statically linked nix, or a \
             Nix other than the one it was built for)"
                .into()
        }))),
        (false, _) => {
            Err(unusable(said.unwrap_or_else(|| {
                format!("nix-instantiate failed ({})", out.status)
            })))
        }
    }
}

/// The plugin file a build loads for `plugin`: a named plugin must pass [`probe_plugin`]
/// (an error otherwise); a found one that fails it is dropped with a one-line notice on
/// stderr, and the build renders at build time.
pub fn usable_plugin(plugin: &Plugin) -> Result<Option<PathBuf>> {
    match plugin {
        Plugin::None => Ok(None),
        Plugin::Named(path) => match probe_plugin(path) {
            Ok(()) => Ok(Some(path.clone())),
            Err(e) => Err(DeployError::NamedPluginUnusable(e)),
        },
        Plugin::Found(path) => match probe_plugin(path) {
            Ok(()) => Ok(Some(path.clone())),
            Err(e) => {
                eprintln!("nixproc-sysvinit: {e}; rendering at build time instead");
                Ok(None)
            }
        },
    }
}
