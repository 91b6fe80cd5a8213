//! Command-line options shared by the deployment tools (`nixproc-sysvinit-switch`,
//! `nixproc-sysvinit-runactivity` and `nixproc-sysvinit-id-assign`), so they name and
//! resolve a deployment the same way.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::deploy::model::{ModelArg, ModelSource};
use crate::deploy::profile::generations;
use crate::deploy::{DeployError, Result};
use crate::remote::password::PasswordError;
use crate::remote::Access;

/// Which deployment a tool works on: the profile link and the runlevel to read it for.
/// Meant to be flattened into a tool's options with `#[command(flatten)]`.
#[derive(Args, Debug, Clone)]
pub struct DeploymentArgs {
    /// Profile name (under the profiles directory) or path of the profile link.
    #[arg(
        short = 'p',
        long,
        env = "NIXPROC_PROFILE",
        default_value = "processes"
    )]
    pub profile: String,
    /// Directory of profile links [default: PROFILES/nixproc-sysvinit, PROFILES being
    /// $NIX_USER_PROFILE_DIR if set, else $NIX_STATE_DIR/profiles for root and
    /// $NIX_STATE_DIR/profiles/per-user/USER otherwise (NIX_STATE_DIR: /nix/var/nix);
    /// a deployment of nix-processmgmt's tools, PROFILES/NAME, is used when this
    /// directory has no link NAME].
    #[arg(long, env = "NIXPROC_PROFILES_DIR")]
    pub profiles_dir: Option<PathBuf>,
    /// Runlevel whose start links count [default: the system's, else 3].
    #[arg(long, env = "NIXPROC_RUNLEVEL")]
    pub runlevel: Option<u8>,
}

impl DeploymentArgs {
    /// The profile link: `--profile` as a path, or as a name under `--profiles-dir`, or
    /// by default as [`generations::default_profile_link`] finds it.
    pub fn profile_link(&self) -> PathBuf {
        match &self.profiles_dir {
            Some(dir) => generations::profile_path(&self.profile, dir),
            None => generations::default_profile_link(&self.profile),
        }
    }

    /// The runlevel: `--runlevel`, else the system's current one (see
    /// [`crate::deploy::detect_runlevel`]).
    pub fn runlevel(&self) -> u8 {
        self.runlevel.unwrap_or_else(crate::deploy::detect_runlevel)
    }

    /// These options as the same tool takes them on a target host.
    pub fn host_args(&self) -> Vec<String> {
        let mut args = vec!["--profile".to_string(), self.profile.clone()];
        if let Some(dir) = &self.profiles_dir {
            args.extend(["--profiles-dir".to_string(), text(dir)]);
        }
        if let Some(level) = self.runlevel {
            args.extend(["--runlevel".to_string(), level.to_string()]);
        }
        args
    }
}

/// A path as an argument of a command run on a target host.
fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The state directory and the directories the model gets (`stateDir`, `runtimeDir`,
/// ...), as the switch and the id assigner take them. Meant to be flattened.
#[derive(Args, Debug, Clone, Default)]
pub struct DirArgs {
    /// State directory [default: /var for root, $HOME/var otherwise].
    #[arg(long, env = "NIXPROC_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Runtime directory (PID files) [default: STATE/run].
    #[arg(long, env = "NIXPROC_RUNTIME_DIR")]
    pub runtime_dir: Option<PathBuf>,
    /// Log directory [default: STATE/log].
    #[arg(long, env = "NIXPROC_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// Temp directory [default: /tmp for STATE=/var, else STATE/tmp].
    #[arg(long, env = "NIXPROC_TMP_DIR")]
    pub tmp_dir: Option<PathBuf>,
    /// Cache directory [default: STATE/cache].
    #[arg(long, env = "NIXPROC_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Spool directory [default: STATE/spool].
    #[arg(long, env = "NIXPROC_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Lock directory [default: STATE/lock].
    #[arg(long, env = "NIXPROC_LOCK_DIR")]
    pub lock_dir: Option<PathBuf>,
    /// Library directory, the model's libDir [default: STATE/lib].
    #[arg(long, env = "NIXPROC_LIB_DIR")]
    pub lib_dir: Option<PathBuf>,
}

/// Every directory of [`DirArgs`], defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// The state directory.
    pub state: PathBuf,
    /// The runtime directory (PID files).
    pub runtime: PathBuf,
    /// The log directory.
    pub log: PathBuf,
    /// The temp directory.
    pub tmp: PathBuf,
    /// The cache directory.
    pub cache: PathBuf,
    /// The spool directory.
    pub spool: PathBuf,
    /// The lock directory.
    pub lock: PathBuf,
    /// The library directory.
    pub lib: PathBuf,
}

impl Dirs {
    /// Makes every directory exist; a temp directory made here is world-writable and
    /// sticky like /tmp (processes running as their own users keep PID and log files
    /// there).
    pub fn create(&self) -> Result<()> {
        if !self.tmp.exists() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::create_dir_all(&self.tmp)
                .map_err(|e| DeployError::io("creating", &self.tmp, e))?;
            std::fs::set_permissions(&self.tmp, std::fs::Permissions::from_mode(0o1777))
                .map_err(|e| DeployError::io("setting the mode of", &self.tmp, e))?;
        }
        let made_here = [
            &self.state,
            &self.runtime,
            &self.log,
            &self.cache,
            &self.spool,
            &self.lock,
            &self.lib,
        ];
        made_here.into_iter().try_for_each(|dir| ensure_dir(dir))
    }
}

/// Makes directory `dir` exist. A dangling symbolic link there that the caller or root
/// owns (Debian's `/var/lock -> /run/lock` before anything made `/run/lock`) gets its
/// target created; a link anyone else made is an error.
fn ensure_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Err(err) = std::fs::create_dir_all(dir) else {
        return Ok(());
    };
    let meta = std::fs::symlink_metadata(dir);
    let dangling_link = meta.as_ref().is_ok_and(|m| m.file_type().is_symlink()) && !dir.exists();
    // SAFETY: geteuid has no preconditions.
    let trusted_owner = meta.is_ok_and(|m| m.uid() == 0 || m.uid() == unsafe { libc::geteuid() });
    if !(dangling_link && trusted_owner) {
        return Err(DeployError::io("creating", dir, err));
    }
    let target =
        std::fs::read_link(dir).map_err(|e| DeployError::io("reading the link", dir, e))?;
    let target = dir.parent().map_or(target.clone(), |p| p.join(&target));
    std::fs::create_dir_all(&target)
        .map_err(|e| DeployError::io("creating the target of a link", &target, e))
}

impl DirArgs {
    /// `--state-dir`, else [`crate::deploy::default_state_dir`].
    pub fn state(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(crate::deploy::default_state_dir)
    }

    /// Every directory, those not given defaulted from the state directory as the
    /// profile builder defaults them.
    pub fn resolve(&self) -> Dirs {
        let state = self.state();
        let or = |v: &Option<PathBuf>, d: &str| v.clone().unwrap_or_else(|| state.join(d));
        let tmp = self.tmp_dir.clone().unwrap_or_else(|| {
            if state == Path::new("/var") {
                PathBuf::from("/tmp")
            } else {
                state.join("tmp")
            }
        });
        Dirs {
            runtime: or(&self.runtime_dir, "run"),
            log: or(&self.log_dir, "log"),
            cache: or(&self.cache_dir, "cache"),
            spool: or(&self.spool_dir, "spool"),
            lock: or(&self.lock_dir, "lock"),
            lib: or(&self.lib_dir, "lib"),
            tmp,
            state,
        }
    }

    /// The directory options whose default lies in the state directory, in the order
    /// given to the profile builder: (option, builder argument, value).
    pub fn state_subdirs(&self) -> [(&'static str, &'static str, Option<&Path>); 7] {
        [
            ("--runtime-dir", "runtimeDir", self.runtime_dir.as_deref()),
            ("--log-dir", "logDir", self.log_dir.as_deref()),
            ("--tmp-dir", "tmpDir", self.tmp_dir.as_deref()),
            ("--cache-dir", "cacheDir", self.cache_dir.as_deref()),
            ("--spool-dir", "spoolDir", self.spool_dir.as_deref()),
            ("--lock-dir", "lockDir", self.lock_dir.as_deref()),
            ("--lib-dir", "libDir", self.lib_dir.as_deref()),
        ]
    }

    /// These options as the switch takes them on a target host.
    pub fn host_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(dir) = &self.state_dir {
            args.extend(["--state-dir".to_string(), text(dir)]);
        }
        for (option, _, dir) in self.state_subdirs() {
            if let Some(dir) = dir {
                args.extend([option.to_string(), text(dir)]);
            }
        }
        args
    }

    /// The profile builder's directory arguments ([`BuildParams::dirs`]): `stateDir`
    /// as `state`, then each directory given; those not given keep the builder's
    /// defaults (which follow `stateDir`).
    ///
    /// [`BuildParams::dirs`]: crate::deploy::model::BuildParams::dirs
    pub fn builder_dirs(&self, state: &Path) -> Vec<(&'static str, String)> {
        let text = |p: &Path| p.to_string_lossy().into_owned();
        let mut dirs = vec![("stateDir", text(state))];
        for (_, name, dir) in self.state_subdirs() {
            if let Some(dir) = dir {
                dirs.push((name, text(dir)));
            }
        }
        dirs
    }
}

/// How a tool runs alongside others and Nix: `--option NAME VALUE` for every Nix command
/// and `--no-wait` for the state directory's lock. Meant to be flattened.
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// Pass `--option NAME VALUE` to every Nix command run (nix-build, nix-env,
    /// nix-store), e.g. `--option substituters ''` for one offline run. Repeatable.
    #[arg(
        long = "option",
        num_args = 2,
        value_names = ["NAME", "VALUE"],
        action = clap::ArgAction::Append,
        allow_hyphen_values = true
    )]
    pub option: Vec<String>,
    /// Fail at once when another switch or runactivity holds the profile's lock,
    /// instead of waiting for it.
    #[arg(long)]
    pub no_wait: bool,
}

impl RunArgs {
    /// The `--option` pairs.
    pub fn nix_options(&self) -> Vec<(String, String)> {
        crate::deploy::model::nix::pairs(&self.option)
    }

    /// These options as the same tool takes them on a target host.
    pub fn host_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.no_wait {
            args.push("--no-wait".to_string());
        }
        for (name, value) in self.nix_options() {
            args.extend(["--option".to_string(), name, value]);
        }
        args
    }

    /// Whether to wait for the lock.
    pub fn wait(&self) -> crate::deploy::transaction::journal::Wait {
        if self.no_wait {
            crate::deploy::transaction::journal::Wait::No
        } else {
            crate::deploy::transaction::journal::Wait::Yes
        }
    }
}

/// How a processes model is found and evaluated: the flake, the arguments it receives,
/// the user-change setting. Shared by the switch and runactivity (which builds a model
/// given to it); meant to be flattened.
#[derive(Args, Debug, Clone, Default)]
pub struct ModelArgs {
    /// Deploy the processes model `processes.NAME` of a flake (REF#NAME; NAME defaults
    /// to `default`), evaluated like a processes.nix file.
    #[arg(long, value_name = "REF#NAME")]
    pub flake: Option<String>,
    /// With `--flake`: use REF for the flake's input INPUT (as `nix build` does; the
    /// flake's lock file records it). Repeatable.
    #[arg(
        long = "override-input",
        num_args = 2,
        value_names = ["INPUT", "REF"],
        action = clap::ArgAction::Append,
        requires = "flake"
    )]
    pub override_input: Vec<String>,
    /// Pass the Nix expression EXPR as the model's argument NAME (as nix-build does).
    /// `pkgs` and `system` choose the package set and system of the whole build.
    /// Repeatable.
    #[arg(
        long = "arg",
        num_args = 2,
        value_names = ["NAME", "EXPR"],
        action = clap::ArgAction::Append,
        allow_hyphen_values = true
    )]
    pub arg: Vec<String>,
    /// Pass the string VALUE as the model's argument NAME (as nix-build does).
    /// Repeatable.
    #[arg(
        long = "argstr",
        num_args = 2,
        value_names = ["NAME", "VALUE"],
        action = clap::ArgAction::Append,
        allow_hyphen_values = true
    )]
    pub argstr: Vec<String>,
    /// Extra arguments for the model: a Nix attribute set (`{ port = 6000; }`) or a
    /// JSON object (`{"port": 6000}`).
    #[arg(long, env = "NIXPROC_EXTRA_PARAMS")]
    pub extra_params: Option<String>,
    /// Never switch users: build with forceDisableUserChange and create no accounts
    /// (the environment variable NIXPROC_FORCE_DISABLE_USER_CHANGE=1 too; it takes
    /// 1/0, true/false, yes/no).
    #[arg(long)]
    pub force_disable_user_change: bool,
}

impl ModelArgs {
    /// `--force-disable-user-change`, or the environment variable
    /// `NIXPROC_FORCE_DISABLE_USER_CHANGE` (see [`env_flag`]).
    pub fn force_disable_user_change(&self) -> Result<bool> {
        Ok(self.force_disable_user_change || env_flag(FORCE_DISABLE_USER_CHANGE_VAR)?)
    }

    /// The `--arg` and `--argstr` values, in the order given per kind.
    pub fn model_args(&self) -> Vec<(String, ModelArg)> {
        let exprs = crate::deploy::model::nix::pairs(&self.arg)
            .into_iter()
            .map(|(n, v)| (n, ModelArg::Expr(v)));
        let strings = crate::deploy::model::nix::pairs(&self.argstr)
            .into_iter()
            .map(|(n, v)| (n, ModelArg::Str(v)));
        exprs.chain(strings).collect()
    }

    /// The `--override-input` pairs.
    pub fn override_inputs(&self) -> Vec<(String, String)> {
        crate::deploy::model::nix::pairs(&self.override_input)
    }

    /// The flake model named by `--flake`, if any.
    pub fn flake_source(&self) -> Option<ModelSource> {
        self.flake.as_deref().map(ModelSource::flake)
    }
}

/// The environment variable standing for `--force-disable-user-change`.
pub const FORCE_DISABLE_USER_CHANGE_VAR: &str = "NIXPROC_FORCE_DISABLE_USER_CHANGE";

/// A boolean as the tools read it from the environment: `1`, `true`, `yes`, `on` or `0`,
/// `false`, `no`, `off` (any case, surrounding blanks ignored); `None` for anything else.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The boolean environment variable `var`: false when unset or empty, else
/// [`parse_bool`] of its value; an error naming the variable for any other value.
pub fn env_flag(var: &str) -> Result<bool> {
    let Some(value) = std::env::var_os(var) else {
        return Ok(false);
    };
    let text = value.to_string_lossy();
    if text.trim().is_empty() {
        return Ok(false);
    }
    parse_bool(&text).ok_or_else(|| DeployError::NotABoolean {
        var: var.to_string(),
        value: text.into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_in_every_spelling() {
        for t in ["1", "true", "TRUE", "Yes", " on "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for t in ["0", "false", "False", "NO", "off"] {
            assert_eq!(parse_bool(t), Some(false), "{t}");
        }
        for t in ["", "2", "y", "maybe"] {
            assert_eq!(parse_bool(t), None, "{t}");
        }
    }
}

/// Where the tools act when not on this machine: one target host or a fleet file.
/// Shared by the switch and runactivity; meant to be flattened.
#[derive(Args, Debug, Clone, Default)]
pub struct RemoteArgs {
    /// Act on another machine, reached with `ssh [USER@]HOST` (SSH options from your SSH
    /// configuration and NIX_SSHOPTS): the model is built here, its closure and this
    /// tool's own are copied there with Nix's transport, and the tool runs there.
    #[arg(long, value_name = "[USER@]HOST", conflicts_with = "hosts")]
    pub target_host: Option<String>,
    /// Act on every host of a fleet file: an attribute set of host names to
    /// `{ targetHost; processes ? ./processes.nix; extraParams ? { }; tags ? [ ];
    /// sudo ? false; nixStorePath ? null; }`.
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
    /// Build the models on this machine (`[USER@]HOST`, over SSH with Nix's transport)
    /// instead of here; the results come back here and go on to the targets.
    #[arg(long, value_name = "[USER@]HOST")]
    pub build_host: Option<String>,
    /// With `--hosts`: at most N hosts at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_hosts: usize,
    /// Let target hosts download store paths from their substituters instead of
    /// receiving them from here (as `nix-copy-closure --use-substitutes`).
    #[arg(long)]
    pub use_substitutes: bool,
    /// With `--hosts`: only these hosts, by name or by tag (`@TAG`), comma-separated;
    /// `*` and `?` are globs (`web*`, `@eu`).
    #[arg(long, value_name = "NAME|@TAG[,...]", requires = "hosts")]
    pub on: Option<String>,
    /// Run the tool on the hosts as root with `sudo -n` (the login needs a NOPASSWD
    /// rule; see `--ask-sudo-password`); a host's `sudo = true;` does the same for it.
    #[arg(long)]
    pub sudo: bool,
    /// Ask once, on the terminal, for the password sudo wants on the hosts (implies
    /// `--sudo`); it goes to `sudo -S` on each host's standard input, never on a
    /// command line.
    #[arg(long)]
    pub ask_sudo_password: bool,
    /// The directory of nix-store and the other Nix programs on the hosts, for hosts
    /// whose SSH sessions do not have it on their PATH (a host's `nixStorePath` wins).
    #[arg(long, value_name = "DIR", value_parser = absolute_dir)]
    pub nix_store_path: Option<String>,
}

/// An absolute directory path on another machine (one line).
fn absolute_dir(text: &str) -> std::result::Result<String, String> {
    if text.starts_with('/') && !text.contains(['\n', '\0']) {
        Ok(text.to_string())
    } else {
        Err("an absolute path is needed".into())
    }
}

impl RemoteArgs {
    /// Whether the tool acts on other machines.
    pub fn is_remote(&self) -> bool {
        self.target_host.is_some() || self.hosts.is_some()
    }

    /// The access to the hosts these options ask for: sudo, the sudo password (read from
    /// the terminal now, with `--ask-sudo-password`), the Nix directory there (see
    /// [`Access::from_options`]).
    pub fn access(&self) -> std::result::Result<Access, PasswordError> {
        Access::from_options(
            self.sudo,
            self.ask_sudo_password,
            self.nix_store_path.clone(),
        )
    }
}
