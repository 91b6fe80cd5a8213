//! Why the secrets of a profile could not be gathered, placed or removed.

use std::path::PathBuf;

use crate::deploy::safe_dir::SafeDirError;
use crate::tree::layout::SECRETS_DIR;

/// Why the secrets of a profile could not be gathered, placed or removed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A source could not be read.
    #[error("process '{process}': secret '{name}': cannot read its source {source_path}: {error}")]
    Source {
        /// The process.
        process: String,
        /// The secret.
        name: String,
        /// The file on the deploying machine.
        source_path: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The deploying machine sent no contents for a secret.
    #[error("process '{process}': secret '{name}' was not sent by the deploying machine")]
    NotSent {
        /// The process.
        process: String,
        /// The secret.
        name: String,
    },
    /// With [`SecretInput::Keep`](super::SecretInput::Keep), a secret has no file yet.
    #[error("process '{process}': secret '{name}' has no file at {} and no contents came with this run; deploy the model (which sends it) instead", path.display())]
    NotPlaced {
        /// The process.
        process: String,
        /// The secret.
        name: String,
        /// Where its file should be.
        path: PathBuf,
    },
    /// An owner or group that neither exists nor is created by the profile.
    #[error("process '{process}': secret '{name}': {kind} '{account}' does not exist and the profile does not create it")]
    Account {
        /// The process.
        process: String,
        /// The secret.
        name: String,
        /// "owner" or "group".
        kind: &'static str,
        /// The account.
        account: String,
    },
    /// A manifest's path is not where secrets go.
    #[error("process '{process}': secret '{name}': {path} is not RUNTIME/{SECRETS_DIR}/{process}/{name}; refusing to write there")]
    Path {
        /// The process.
        process: String,
        /// The secret.
        name: String,
        /// The path the manifest gives.
        path: String,
    },
    /// A file or directory could not be written, read or removed safely.
    #[error("process '{process}': secret '{name}': {error}")]
    File {
        /// The process.
        process: String,
        /// The secret.
        name: String,
        /// What went wrong.
        error: SafeDirError,
    },
    /// A manifest of the profile could not be read.
    #[error("reading the secrets of {}: {why}", path.display())]
    Manifest {
        /// The manifest file (or its directory).
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The contents on standard input are not what the deploying machine writes.
    #[error("the secrets on standard input are not valid: {0}")]
    Payload(String),
}
