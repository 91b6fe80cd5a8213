//! Secrets: files a process needs that never enter the Nix store (`secrets` of a
//! description). The manifest of a process says where each one comes from (a file on
//! the deploying machine) and where it goes (`RUNTIME/nixproc-sysvinit-secrets/PROCESS/
//! NAME`), never what it holds.
//!
//! A switch [`gather`](fn@gather)s the contents before anything stops (a source that
//! is missing or unreadable fails the switch there), finds the processes whose files
//! would change ([`needing_restart`]: they restart even when their script is the same),
//! [`place`](fn@place)s the files between the stops and the starts (each written beside
//! the old one with its owner and mode, then renamed over it; a failed switch puts the
//! old ones back), and once the profile has moved [`remove_obsolete`] deletes the files
//! no process of the new profile declares. The directories are root's (the deploying
//! user's for a profile of someone else): `nixproc-sysvinit-secrets` mode 0755, each
//! process's 0711, so a user reaches only a file whose name it knows and whose mode
//! lets it.
//!
//! Contents travel from a deploying machine to a host on the standard input of the
//! host's switch ([`payload_line`], [`read_payload`]), never on a command line; they are
//! wiped from memory when dropped ([`Contents`]) and no message shows them.
//!
//! The parts: `contents` (the bytes in memory), `payload` (contents by process and the
//! line that carries them), `sources` (reading the sources on the deploying machine),
//! `gather` (taking them in and checking them before anything stops), `place` (writing
//! the files and putting them back) and `remove` (deleting the obsolete ones).

mod contents;
mod error;
mod gather;
mod payload;
mod place;
mod remove;
mod sources;

pub use contents::Contents;
pub use error::SecretError;
pub use gather::{check_accounts, gather, SecretInput};
pub use payload::{payload_line, read_payload, Payload};
pub use place::{needing_restart, place, Placed};
pub use remove::remove_obsolete;
pub use sources::{read_profile_sources, read_sources};

use super::profile::Profile;
use crate::tree::manifest::ManifestSecret;

/// One secret that is to be in place after the switch.
#[derive(Debug)]
pub struct Wanted {
    /// The process that uses it.
    pub process: String,
    /// Its manifest entry.
    pub secret: ManifestSecret,
    /// Its contents; `None` keeps the file in place.
    contents: Option<Contents>,
}

/// The secrets every process of `profile` declares, by process, as its manifest says.
fn declared(profile: &Profile) -> impl Iterator<Item = (&str, &ManifestSecret)> {
    profile
        .processes
        .values()
        .flat_map(|p| p.secrets.iter().map(move |s| (p.name.as_str(), s)))
}
