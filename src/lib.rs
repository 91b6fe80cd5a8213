//! nixproc-sysvinit: process management with Nix through LSB sysvinit scripts.
//!
//! The pipeline: a process description (JSON, from Nix) is parsed and validated into a
//! [`spec::ProcessSpec`] by [`spec`]; [`render`] turns it into every file a deployment
//! needs (the init.d script, rc.d links, credential files and a manifest); [`deploy`]
//! reads a profile made of such trees, plans a switch between two profiles as a
//! dependency graph and carries it out as a transaction.

pub mod deploy;
pub mod error;
pub mod render;
pub mod spec;

pub use error::SpecError;
