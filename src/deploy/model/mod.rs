//! Building a processes model (`processes.nix`) into a profile with `nix-build` and the
//! profile builder `build-profile.nix`.
//!
//! The model's source and a tool's operand are in `source`, the builder's parameters in
//! `params`, the evaluator plugin in `plugin`, the builder's run in `build`, and the
//! package set a built profile records in `package_set`.

mod build;
pub mod nix;
mod package_set;
mod params;
mod plugin;
mod source;

pub use build::{build, find_builder, instantiate};
pub use package_set::package_set;
pub(crate) use params::add_builder_args;
pub use params::{
    extra_params_kind, nix_attrs, nix_string, BuildParams, ExtraParamsKind, ModelArg,
};
pub use plugin::{
    probe_plugin, resolve_plugin, usable_plugin, Plugin, PluginUnusable, PLUGIN_FILE_NAME,
};
pub use source::{is_profile_dir, operand, ModelSource, Operand};
