//! Deploying to other machines: one target host (`--target-host`) or a fleet
//! (`--hosts hosts.nix`). Profiles are built here, copied with their closures to each
//! host with Nix's own transport, and switched there by the switch tool's own copy, run
//! over SSH from its store path; each host's switch is its own transaction (lock,
//! journal, rollback on that host).
//!
//! - [`ssh`]: the target host, SSH commands, failures sorted by cause; closures travel
//!   over the same connection (`copy`: `nix-store --export | ssh HOST nix-store --import`);
//! - [`hosts`]: the fleet file;
//! - [`run`]: the tool's own package, and remote runs streamed back with the host's name,
//!   their JSON lines read as the typed events of [`crate::protocol`];
//! - [`fleet`]: many hosts in parallel, one report each, as a table or JSON;
//! - [`select`](mod@select): `--on`, the hosts of a fleet a run is limited to;
//! - [`password`]: `--ask-sudo-password`, read once from the terminal;
//! - [`deploy`]: each distinct model built once (here or on a build host), then the hosts
//!   switched;
//! - [`transaction`]: a fleet as one transaction (confirmation, rollback of the hosts
//!   that switched);
//! - [`orchestrate`]: the one entry point of the tools (`crate::tools`), from a
//!   `Request` to the reports.

mod copy;
pub mod deploy;
pub mod fleet;
pub mod hosts;
pub mod orchestrate;
pub mod password;
pub mod run;
pub mod select;
pub mod ssh;
pub mod transaction;

pub use fleet::{for_each_host, switch_host, HostReport, RemoteSwitch};
pub use hosts::{read_hosts, selected_hosts, HostSpec};
pub use run::{own_package, run_remote, Echo};
pub use select::select;
pub use ssh::{Access, TargetHost};

/// Why something could not be done on a target host. Every message names the host.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The `[USER@]HOST` text is not usable.
    #[error("invalid target host '{given}': {why}")]
    BadTarget {
        /// What was given.
        given: String,
        /// What is wrong with it.
        why: String,
    },
    /// SSH could not connect (no route, refused, name not found, timed out).
    #[error("host {host}: cannot be reached: {detail}")]
    Unreachable {
        /// The target.
        host: String,
        /// SSH's own words.
        detail: String,
    },
    /// The host's key is not the one `known_hosts` has for it (or it is unknown and
    /// `StrictHostKeyChecking` forbids adding it).
    #[error(
        "host {host}: its SSH host key could not be verified (it differs from known_hosts, \
         or is unknown): {detail}; nothing was done there"
    )]
    HostKey {
        /// The target.
        host: String,
        /// SSH's own words.
        detail: String,
    },
    /// The host refused the credentials.
    #[error("host {host}: SSH login refused: {detail}")]
    LoginRefused {
        /// The target.
        host: String,
        /// SSH's own words.
        detail: String,
    },
    /// The host has no Nix on the PATH of a non-interactive SSH session.
    #[error(
        "host {host}: Nix is not installed there (no nix-store on the PATH of an SSH \
         session; if it is installed, give the host's nixStorePath in hosts.nix): {detail}"
    )]
    NoNix {
        /// The target.
        host: String,
        /// The remote shell's words.
        detail: String,
    },
    /// The login may not run the tool as root with `sudo` there (no sudo, no right, a
    /// password needed or refused).
    #[error("host {host}: sudo: {why}: {detail}")]
    Sudo {
        /// The target.
        host: String,
        /// What is missing, and what to do about it.
        why: String,
        /// sudo's own words.
        detail: String,
    },
    /// `--on` names no host, or is malformed.
    #[error(transparent)]
    Select(#[from] select::SelectError),
    /// The host's disk (its Nix store) is full.
    #[error(
        "host {host}: its disk is full (Nix cannot write its store or its database there): \
         {detail}"
    )]
    DiskFull {
        /// The target.
        host: String,
        /// The failing tool's words.
        detail: String,
    },
    /// A command for the host could not be started here.
    #[error("host {host}: cannot run {program}: {error}")]
    Spawn {
        /// The target.
        host: String,
        /// The local program (ssh, nix-store).
        program: String,
        /// Why.
        error: std::io::Error,
    },
    /// The fleet file cannot be used.
    #[error("fleet file {}: {why}", file.display())]
    Fleet {
        /// The file.
        file: std::path::PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The tool on the host speaks another protocol than this deployer (see
    /// [`crate::protocol`]).
    #[error(
        "host {host}: its tool speaks protocol {theirs}, this deployer {ours}: deploy the \
         same version of nixproc-sysvinit there, or run this deployer's version"
    )]
    Protocol {
        /// The target.
        host: String,
        /// The host tool's protocol (0: older than protocols).
        theirs: u32,
        /// This deployer's.
        ours: u32,
    },
    /// The SSH connection dropped while the tool ran on the host. The tool goes on there
    /// by itself: a switch finishes (or rolls back) its transaction under its lock.
    #[error(
        "host {host}: the SSH connection dropped during {step} ({detail}); it goes on on the \
         host by itself. See where it ended with `{query}`, or run the same command again: \
         it waits for the host's switch and then converges"
    )]
    ConnectionDropped {
        /// The target.
        host: String,
        /// What was running.
        step: String,
        /// SSH's last words.
        detail: String,
        /// A command that shows the host's state.
        query: String,
    },
    /// The host did not confirm its new deployment in time (see
    /// [`crate::remote::transaction`]).
    #[error("host {host}: not confirmed within {timeout} s: {detail}")]
    NotConfirmed {
        /// The target.
        host: String,
        /// The seconds it had.
        timeout: u64,
        /// What failed last.
        detail: String,
    },
    /// Any other failure of a step on the host.
    #[error("host {host}: {step} failed: {detail}")]
    Failed {
        /// The target.
        host: String,
        /// What was being done.
        step: String,
        /// Exit status and the tool's words.
        detail: String,
    },
}
