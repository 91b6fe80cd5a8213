//! The profile builder's parameters ([`BuildParams`], [`ModelArg`]) and how they go on
//! the command line of `nix-build` and `nix-instantiate`: Nix literals, `extraParams`,
//! the model's arguments.

use std::process::Command;

use super::plugin::Plugin;

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
    /// `--override-input INPUT REF` pairs for a flake model (see [`ModelSource::Flake`](super::ModelSource::Flake)).
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
}
