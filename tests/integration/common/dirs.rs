//! Directories: the repository root, and temporary directories every user can traverse
//! (processes that run as a throwaway user must reach the programs and state in them).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The processes model of the webapps example, `examples/webapps/processes.nix`.
pub fn webapps_example() -> PathBuf {
    repo_root().join("examples/webapps/processes.nix")
}

/// A temporary directory, mode 0755, removed on drop.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    /// Creates a fresh directory whose name starts with `prefix`.
    pub fn new(prefix: &str) -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("create a temporary directory");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .expect("make the temporary directory traversable");
        TestDir { dir }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `path()/rel`, with its parent directories created.
    pub fn join(&self, rel: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("create a directory in the test dir");
        }
        p
    }

    /// Creates the directory `rel` with the given mode and returns its path.
    pub fn mkdir(&self, rel: &str, mode: u32) -> PathBuf {
        let p = self.dir.path().join(rel);
        fs::create_dir_all(&p).expect("create a directory in the test dir");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod a directory");
        p
    }

    /// Writes `text` to `rel` with the given mode and returns the path.
    pub fn write(&self, rel: &str, text: &str, mode: u32) -> PathBuf {
        let p = self.join(rel);
        fs::write(&p, text).expect("write a file in the test dir");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod a file");
        p
    }
}
