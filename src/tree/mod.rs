//! The profile format: the contract between [`render`](crate::render), which writes
//! process trees, and [`deploy`](crate::deploy), which reads profiles made of them.
//!
//! - [`layout`]: where each file of a tree lives (scripts, rc.d links, credential files,
//!   manifests, claims on run-time files);
//! - [`manifest`]: the per-process JSON manifest, one type written and read with serde;
//! - [`credentials`]: the `key='value'` credential files, writer and parser side by side;
//! - [`service`]: the service id a script tracks its processes by, and its cgroups.
//!
//! Both sides use this module and nothing of each other; it depends only on
//! [`shell`](crate::shell), the one function that quotes a value.

pub mod credentials;
pub mod layout;
pub mod manifest;
pub mod service;

pub use manifest::{Manifest, ManifestError, ManifestReadiness};
