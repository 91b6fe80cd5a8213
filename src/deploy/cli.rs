//! Command-line options shared by the deployment tools (`nixproc-sysvinit-switch` and
//! `nixproc-sysvinit-runactivity`), so both name and resolve a deployment the same way.

use std::path::PathBuf;

use clap::Args;

use super::generations;

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
    /// Directory of profile links [default: /nix/var/nix/profiles/nixproc-sysvinit for
    /// root, /nix/var/nix/profiles/per-user/USER/nixproc-sysvinit otherwise].
    #[arg(long, env = "NIXPROC_PROFILES_DIR")]
    pub profiles_dir: Option<PathBuf>,
    /// Runlevel whose start links count [default: the system's, else 3].
    #[arg(long, env = "NIXPROC_RUNLEVEL")]
    pub runlevel: Option<u8>,
}

impl DeploymentArgs {
    /// The profile link: `--profile` as a path, or as a name under `--profiles-dir` (or
    /// its default, see [`generations::default_profiles_dir`]).
    pub fn profile_link(&self) -> PathBuf {
        let dir = self
            .profiles_dir
            .clone()
            .unwrap_or_else(generations::default_profiles_dir);
        generations::profile_path(&self.profile, &dir)
    }

    /// The runlevel: `--runlevel`, else the system's current one (see
    /// [`super::detect_runlevel`]).
    pub fn runlevel(&self) -> u8 {
        self.runlevel.unwrap_or_else(super::detect_runlevel)
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
        super::nix::pairs(&self.option)
    }

    /// Whether to wait for the lock.
    pub fn wait(&self) -> super::journal::Wait {
        if self.no_wait {
            super::journal::Wait::No
        } else {
            super::journal::Wait::Yes
        }
    }
}
