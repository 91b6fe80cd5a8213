//! Helpers of the integration tests, one module per topic; everything but [`nixbuild`]
//! is re-exported here, so a test names `common::free_port` or imports `common::*`.
//!
//! - [`dirs`]: the repository root; [`TestDir`], a temporary directory every user can
//!   traverse.
//! - [`processes`]: PIDs and `/proc`; [`ProcessGuard`] kills on drop what a test started.
//! - [`users`]: [`UserGuard`], a throwaway system user; [`account_tool`] runs useradd and
//!   its kin one at a time; [`fresh_user`] and [`AccountsGuard`] for accounts a switch
//!   makes; [`run_in`], the switch with an account registry of the test's own.
//! - [`run`]: [`run_script`] with its output in files; [`assert_succeeded`] and
//!   [`assert_failed`] on a command's output.
//! - [`shell`]: shell quoting.
//! - [`net`]: free ports and HTTP polling.
//! - [`wait`]: [`wait_until`], polling without fixed sleeps.
//! - [`programs`]: this build's tools, the init-functions library, the example web server
//!   and the evaluator plugin.
//! - [`nixbuild`]: `nix-build` and `nix-instantiate` on either render path.
//! - [`sandbox`]: profiles of small bash scripts for the switch tool, in a [`Sandbox`].
//! - [`deployment`]: a processes model deployed through the tools ([`ModelDeployment`]).
//! - [`expected`]: error cases kept as data files.

pub mod deployment;
pub mod dirs;
pub mod expected;
pub mod net;
pub mod nixbuild;
pub mod processes;
pub mod programs;
pub mod run;
pub mod sandbox;
pub mod shell;
pub mod test_hosts;
pub mod users;
pub mod wait;

pub use deployment::*;
pub use dirs::*;
pub use net::*;
pub use processes::*;
pub use programs::*;
pub use run::*;
pub use sandbox::*;
pub use shell::*;
pub use test_hosts::*;
pub use users::*;
pub use wait::*;
