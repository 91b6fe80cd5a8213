//! Building a processes model (`processes.nix`) into a profile with `nix-build` and the
//! profile builder `build-profile.nix`.

pub mod nix;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::model::nix::{nix_command, PLUGIN_FILES};
use super::{output_of, DeployError, Result};
use crate::tree::layout;

/// The settings passed to the profile builder.
#[derive(Debug, Clone, Default)]
pub struct BuildParams {
    /// The directories for the profile builder, as its argument's name and the value:
    /// `stateDir`, `runtimeDir`, `logDir`, `tmpDir`, and `cacheDir`, `spoolDir`,
    /// `lockDir`, `libDir` (passed to builders that declare them). A directory not
    /// given keeps the builder's default.
    pub dirs: Vec<(&'static str, String)>,
    /// `forceDisableUserChange`.
    pub force_disable_user_change: bool,
    /// `extraParams`: a JSON object or a Nix expression (an attribute set), told apart
    /// by [`extra_params_kind`].
    pub extra_params: Option<String>,
    /// Arguments for the model from `--arg` / `--argstr`: `pkgs` and `system` go to the
    /// profile builder itself (and so to the model), the others to the model through
    /// the builder's `cliArgs`.
    pub model_args: Vec<(String, ModelArg)>,
    /// `--override-input INPUT REF` pairs for a flake model (see [`ModelSource::Flake`]).
    pub override_inputs: Vec<(String, String)>,
    /// Pass `--show-trace`.
    pub show_trace: bool,
    /// The evaluator plugin to load (`--option plugin-files`), so scripts are rendered
    /// during evaluation; [`Plugin::None`] renders at build time with
    /// `nixproc-sysvinit-render`.
    pub plugin: Plugin,
    /// `--option NAME VALUE` pairs for `nix-build`.
    pub nix_options: Vec<(String, String)>,
    /// Keep Nix's build output (its stderr) to show only when the build fails.
    pub quiet: bool,
}

/// A model argument given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelArg {
    /// `--arg NAME EXPR`: a Nix expression.
    Expr(String),
    /// `--argstr NAME VALUE`: a string.
    Str(String),
}

impl ModelArg {
    /// The argument as Nix source text.
    pub fn to_nix(&self) -> String {
        match self {
            ModelArg::Expr(e) => format!("({e}\n)"),
            ModelArg::Str(s) => nix_string(s),
        }
    }
}

/// Where a processes model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A file evaluating to a model (processes.nix).
    File(PathBuf),
    /// The output `processes.NAME` of a flake (or `processes.SYSTEM.NAME`).
    Flake {
        /// The flake reference: a directory, or any reference Nix understands.
        reference: String,
        /// The model's name in `processes`.
        name: String,
    },
}

impl ModelSource {
    /// Parses `REF#NAME` (`NAME` defaults to `default`, `REF` to `.`).
    pub fn flake(spec: &str) -> ModelSource {
        let (reference, name) = match spec.rsplit_once('#') {
            Some((r, n)) => (r, n),
            None => (spec, ""),
        };
        ModelSource::Flake {
            reference: if reference.is_empty() { "." } else { reference }.to_string(),
            name: if name.is_empty() { "default" } else { name }.to_string(),
        }
    }
}

/// How `--extra-params` text is passed to the builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraParamsKind {
    /// A JSON object: passed as a string the builder decodes with `builtins.fromJSON`.
    Json,
    /// Anything else: a Nix expression, passed with `--arg`.
    Nix,
}

/// Tells a JSON object from a Nix expression: text that parses as a JSON object is
/// JSON (no JSON object is also a valid Nix attribute set, except `{}`, the same either
/// way).
pub fn extra_params_kind(text: &str) -> ExtraParamsKind {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => ExtraParamsKind::Json,
        _ => ExtraParamsKind::Nix,
    }
}

/// `text` as a Nix string literal.
pub fn nix_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The Nix attribute set `{ "NAME" = VALUE; ... }` of `args`.
pub fn nix_attrs(args: &[(String, ModelArg)]) -> String {
    let mut out = String::from("{ ");
    for (name, value) in args {
        out.push_str(&format!("{} = {}; ", nix_string(name), value.to_nix()));
    }
    out.push('}');
    out
}

/// Model arguments the profile builder takes itself rather than in `cliArgs`.
const BUILDER_ARGS: [&str; 2] = ["pkgs", "system"];

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

/// Which package set the model of a built profile got, as the profile builder records
/// it in `share/nixproc-sysvinit/package-set` ("nixpkgs", "host-packages shim"...);
/// `None` for a profile without that file.
pub fn package_set(profile: &Path) -> Option<String> {
    let text = std::fs::read_to_string(profile.join(layout::PACKAGE_SET_FILE)).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// Whether `path` names a prebuilt profile (a directory with `etc/rc.d`) rather than a
/// model to build.
pub fn is_profile_dir(path: &Path) -> bool {
    path.join(layout::RC_DIR).is_dir()
}

/// What a tool's PATH operand (with its `--flake`) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A prebuilt profile directory (anything holding `etc/rc.d`).
    Profile(PathBuf),
    /// A model to build: a file, a flake directory's `processes.default`, or `--flake`.
    Model(ModelSource),
}

/// Reads the PATH operand `path` and the `--flake` source `flake` of a tool: `None` when
/// neither is given; an error for both, or for a PATH that is neither a profile
/// directory, a model file nor a flake directory.
pub fn operand(path: Option<&Path>, flake: Option<ModelSource>) -> Result<Option<Operand>> {
    let Some(path) = path else {
        return Ok(flake.map(Operand::Model));
    };
    if flake.is_some() {
        return Err(DeployError::Operand { path: None });
    }
    if is_profile_dir(path) {
        Ok(Some(Operand::Profile(path.to_path_buf())))
    } else if path.is_file() {
        Ok(Some(Operand::Model(ModelSource::File(path.to_path_buf()))))
    } else if path.join("flake.nix").is_file() {
        Ok(Some(Operand::Model(ModelSource::Flake {
            reference: path.to_string_lossy().into_owned(),
            name: "default".into(),
        })))
    } else {
        Err(DeployError::Operand {
            path: Some(path.to_path_buf()),
        })
    }
}

/// Finds `build-profile.nix`: `$NIXPROC_NIX_DIR`, then `share/nixproc-sysvinit/nix`
/// next to the executable's prefix, then the source tree the tool was built from.
pub fn find_builder() -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(d) = std::env::var_os("NIXPROC_NIX_DIR") {
        candidates.push(PathBuf::from(d));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(prefix) = exe.parent().and_then(Path::parent) {
            candidates.push(prefix.join("share/nixproc-sysvinit/nix"));
        }
    }
    candidates.push(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/nix")));
    candidates
        .iter()
        .map(|d| d.join("build-profile.nix"))
        .find(|f| f.is_file())
        .ok_or(DeployError::BuilderNotFound)
}

/// The Nix option enabling flakes for the commands evaluating a flake model.
const FLAKE_FEATURES: (&str, &str) = ("extra-experimental-features", "nix-command flakes");

/// The file `nix-build` imports as the model: the model file itself, or for a flake a
/// small expression written next to `out_link` that selects `processes.NAME` from
/// `builtins.getFlake`. A flake in a local directory is locked first (`nix flake lock`,
/// which writes its `flake.lock` as `nix build` would), since `builtins.getFlake` only
/// reads a complete lock file.
fn model_file(
    source: &ModelSource,
    params: &BuildParams,
    out_link: &Path,
    options: &mut Vec<(String, String)>,
) -> Result<PathBuf> {
    let (reference, name) = match source {
        ModelSource::File(path) => {
            return std::fs::canonicalize(path).map_err(|e| DeployError::io("resolving", path, e))
        }
        ModelSource::Flake { reference, name } => (reference, name),
    };
    options.push((FLAKE_FEATURES.0.into(), FLAKE_FEATURES.1.into()));
    let local = Path::new(reference);
    let reference = if !reference.contains(':') || reference.starts_with("path:") {
        let dir = reference.strip_prefix("path:").unwrap_or(reference);
        let dir = std::fs::canonicalize(dir)
            .map_err(|e| DeployError::io("resolving the flake", local, e))?;
        let mut lock = nix_command("nix", options);
        lock.args(["flake", "lock"]).arg(&dir);
        for (input, to) in &params.override_inputs {
            lock.arg("--override-input").arg(input).arg(to);
        }
        super::run_capture(&mut lock)?;
        dir.to_string_lossy().into_owned()
    } else {
        reference.clone()
    };
    let file = out_link.with_file_name("flake-model.nix");
    let shown = format!("{reference}#{name}");
    let text = format!(
        r#"# The processes model {shown} (written by nixproc-sysvinit for --flake).
let
  flake = builtins.getFlake {reference};
  system = builtins.currentSystem;
  models = flake.processes or (throw "flake {shown_nix}: it has no output `processes`");
  name = {name};
in
if models ? ${{name}} then models.${{name}}
else if models ? ${{system}} && models.${{system}} ? ${{name}} then models.${{system}}.${{name}}
else throw "flake {shown_nix}: no processes model `${{name}}`; processes has: ${{toString (builtins.attrNames models)}}"
"#,
        reference = nix_string(&reference),
        name = nix_string(name),
        shown_nix = nix_string(&shown).trim_matches('"'),
    );
    std::fs::write(&file, text).map_err(|e| DeployError::io("writing", &file, e))?;
    Ok(file)
}

/// Builds the model `source` with `nix-build`, keeping the result alive through the
/// garbage-collector root `out_link`; returns the profile's store path.
pub fn build(source: &ModelSource, params: &BuildParams, out_link: &Path) -> Result<PathBuf> {
    run_builder(Builder::Build { out_link }, source, params)
}

/// Evaluates a model into the profile's derivation (`nix-instantiate`) without building
/// it, for a build elsewhere (`--build-host`); `scratch` is a directory for the files a
/// flake model needs. Returns the `.drv` path.
pub fn instantiate(source: &ModelSource, params: &BuildParams, scratch: &Path) -> Result<PathBuf> {
    run_builder(Builder::Instantiate { scratch }, source, params)
}

/// What `run_builder` asks of Nix.
enum Builder<'a> {
    /// `nix-build`, its result kept by `out_link`.
    Build { out_link: &'a Path },
    /// `nix-instantiate`; `scratch` holds the model's helper files.
    Instantiate { scratch: &'a Path },
}

/// Runs the profile builder on `source`: `nix-build` or `nix-instantiate` with the
/// plugin when there is one, the project's programs and the builder's arguments.
fn run_builder(how: Builder, source: &ModelSource, params: &BuildParams) -> Result<PathBuf> {
    let builder = find_builder()?;
    let (program, anchor) = match how {
        Builder::Build { out_link } => ("nix-build", out_link.to_path_buf()),
        Builder::Instantiate { scratch } => ("nix-instantiate", scratch.join("result")),
    };
    if let Some(dir) = anchor.parent() {
        std::fs::create_dir_all(dir).map_err(|e| DeployError::io("creating", dir, e))?;
    }
    let mut flake_options = params.nix_options.clone();
    let expr = model_file(source, params, &anchor, &mut flake_options)?;
    let mut options = Vec::new();
    // nix_command puts the option loading plugins before the others, or Nix would have
    // loaded its plugins when it reads it.
    if let Some(plugin) = usable_plugin(&params.plugin)? {
        options.push((
            PLUGIN_FILES.to_string(),
            plugin.to_string_lossy().into_owned(),
        ));
    }
    options.extend(flake_options);
    let mut cmd = nix_command(program, &options);
    cmd.arg(&builder);
    if let Builder::Build { out_link } = how {
        cmd.arg("-o").arg(out_link);
    }
    pass_own_programs(&mut cmd);
    cmd.arg("--arg").arg("exprFile").arg(&expr);
    add_builder_args(&mut cmd, params);
    let shown = format!(
        "{program} {} --arg exprFile {}",
        builder.display(),
        expr.display()
    );
    run_nix_build(&mut cmd, shown, params.quiet)
}

/// The host-packages shim takes this project's programs from NIXPROC_SYSVINIT_BIN; by
/// default, from where this tool itself runs.
fn pass_own_programs(cmd: &mut Command) {
    if std::env::var_os("NIXPROC_SYSVINIT_BIN").is_some() {
        return;
    }
    let bin = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
        .filter(|bin| bin.join("nixproc-sysvinit-render").is_file());
    if let Some(bin) = bin {
        cmd.env("NIXPROC_SYSVINIT_BIN", bin);
    }
}

/// Adds the model's arguments from `params` as build-profile.nix and id-requirements.nix
/// (both through call-model.nix) take them: the directories, `extraParams`, the model's
/// arguments (`pkgs` and `system` directly, the others as `cliArgs`),
/// `forceDisableUserChange`, and `--show-trace`.
pub(crate) fn add_builder_args(cmd: &mut Command, params: &BuildParams) {
    for (name, dir) in &params.dirs {
        cmd.arg("--argstr").arg(name).arg(dir);
    }
    if let Some(extra) = params
        .extra_params
        .as_deref()
        .filter(|e| !e.trim().is_empty())
    {
        let kind = match extra_params_kind(extra) {
            ExtraParamsKind::Json => "--argstr",
            ExtraParamsKind::Nix => "--arg",
        };
        cmd.arg(kind).arg("extraParams").arg(extra);
    }
    let (own, for_model): (Vec<_>, Vec<_>) = params
        .model_args
        .iter()
        .cloned()
        .partition(|(name, _)| BUILDER_ARGS.contains(&name.as_str()));
    for (name, value) in own {
        match value {
            ModelArg::Expr(e) => cmd.arg("--arg").arg(name).arg(e),
            ModelArg::Str(v) => cmd.arg("--argstr").arg(name).arg(v),
        };
    }
    if !for_model.is_empty() {
        cmd.arg("--arg").arg("cliArgs").arg(nix_attrs(&for_model));
    }
    cmd.arg("--arg")
        .arg("forceDisableUserChange")
        .arg(if params.force_disable_user_change {
            "true"
        } else {
            "false"
        });
    if params.show_trace {
        cmd.arg("--show-trace");
    }
}

/// Runs the `nix-build` (or `nix-instantiate`) command `cmd` (named `shown` in errors)
/// and returns the store path it printed last. With `quiet`, its messages are kept for the error.
fn run_nix_build(cmd: &mut Command, shown: String, quiet: bool) -> Result<PathBuf> {
    let stderr = if quiet {
        Stdio::piped()
    } else {
        Stdio::inherit()
    };
    let out = output_of(cmd.stderr(stderr), &shown)?;
    if !out.status.success() {
        let message = if quiet {
            format!(
                "{}:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            )
        } else {
            format!("{} (see the messages above)", out.status)
        };
        return Err(DeployError::Command {
            command: shown,
            message,
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let path = text
        .lines()
        .last()
        .map(|l| PathBuf::from(l.trim()))
        .ok_or_else(|| DeployError::Command {
            command: shown,
            message: "printed no store path".into(),
        })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_are_told_from_nix_expressions() {
        assert_eq!(extra_params_kind(r#"{"a": 1}"#), ExtraParamsKind::Json);
        assert_eq!(extra_params_kind("{ a = 1; }"), ExtraParamsKind::Nix);
        assert_eq!(extra_params_kind("import ./x.nix"), ExtraParamsKind::Nix);
        // `{}` means the same either way.
        assert_eq!(extra_params_kind("{}"), ExtraParamsKind::Json);
    }

    #[test]
    fn strings_become_nix_literals_without_interpolation() {
        assert_eq!(
            nix_string(r#"a "b" ${c} $d \e"#),
            r#""a \"b\" \${c} $d \\e""#
        );
        assert_eq!(nix_string("x\ny"), r#""x\ny""#);
        let args = [
            ("n".to_string(), ModelArg::Expr("1 # comment".into())),
            ("s\"".to_string(), ModelArg::Str("v".into())),
        ];
        assert_eq!(
            nix_attrs(&args),
            "{ \"n\" = (1 # comment\n); \"s\\\"\" = \"v\"; }"
        );
    }

    #[test]
    fn flake_references_default_to_dot_and_default() {
        let f = |r: &str, n: &str| ModelSource::Flake {
            reference: r.into(),
            name: n.into(),
        };
        assert_eq!(ModelSource::flake(".#web"), f(".", "web"));
        assert_eq!(ModelSource::flake("/srv/flake"), f("/srv/flake", "default"));
        assert_eq!(ModelSource::flake("#web"), f(".", "web"));
        assert_eq!(ModelSource::flake("github:o/r#x"), f("github:o/r", "x"));
    }
}
