//! The integration tests: one test binary, built and linked once, whose tests of every
//! topic share the test threads. Each topic is a module and names its tests
//! `TOPIC::TEST`; run one topic with a filter, e.g.
//! `cargo test --release --test integration -- golden::`.
//!
//! The helpers are in [`common`]. `tests/unprivileged.rs` is a binary of its own: it
//! checks that a user's deployment leaves root's profiles and the machine's account
//! registry as they were, which holds only while no other test deploys as root.

mod common;

mod fleet;
mod fleet_access;
mod golden;
mod id_assign;
mod init_functions;
mod interop;
mod lifecycle;
mod logs;
mod nix_credentials;
mod nix_profiles;
mod offline;
mod pidfile_attacks;
mod plugin;
mod profile_state;
mod runactivity;
mod secrets;
mod shell_safety;
mod spec_errors;
mod state_dirs;
mod supervise;
mod switch;
mod switch_accounts;
mod switch_assign_ids;
mod switch_disk_full;
mod switch_faults;
mod switch_flake;
mod switch_kill_loop;
mod switch_models;
mod switch_users;
mod switch_webapps;
mod tree_layout;
mod upstream_compat;
