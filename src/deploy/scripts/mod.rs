//! Running init.d scripts: a phase's steps ([`step`]) in parallel where the dependency
//! graph allows ([`execute`]), each script's child started behind the journal's gate
//! ([`spawn`]).

pub mod execute;
pub mod spawn;
pub mod step;
