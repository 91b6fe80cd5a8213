//! Accounts: throwaway system users, and the account tools run one at a time.
//!
//! useradd, userdel and their kin lock the account files and fail at once when another
//! tool holds them. The tests of this binary run them one at a time through
//! [`account_tool`], which also waits while a tool outside the tests' control (the switch
//! tool a concurrent test runs) holds the lock.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::processes::kill;
use super::{pid_alive, uid_of, wait_until};

/// Serialises the account changes of this test binary.
static ACCOUNT_CHANGES: Mutex<()> = Mutex::new(());

/// Runs an account tool (`useradd`, `userdel`, `groupdel`...) while no other test of this
/// binary runs one, retrying for up to 10 s while another program holds the lock of the
/// account files. Returns its output.
pub fn account_tool(cmd: &mut Command) -> Output {
    let _serial = ACCOUNT_CHANGES.lock().unwrap_or_else(|e| e.into_inner());
    let mut tries = 0;
    loop {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
        let locked = String::from_utf8_lossy(&out.stderr).contains("cannot lock");
        if out.status.success() || !locked || tries == 100 {
            return out;
        }
        tries += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A throwaway system user (`useradd -r`), deleted on drop.
pub struct UserGuard {
    /// The user name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
}

impl UserGuard {
    /// Creates a system user with a unique name starting with `prefix` (at most 8 chars).
    pub fn create(prefix: &str) -> UserGuard {
        UserGuard::create_with_home(prefix, Path::new("/nonexistent"))
    }

    /// As [`UserGuard::create`], with `home` as the home directory (made by the caller).
    pub fn create_with_home(prefix: &str, home: &Path) -> UserGuard {
        let name = format!("{prefix}{}", std::process::id() % 100_000);
        let out = account_tool(
            Command::new("useradd")
                .args(["-r", "-M", "-s", "/usr/sbin/nologin", "-d"])
                .arg(home)
                .arg(&name),
        );
        assert!(out.status.success(), "useradd {name} failed: {out:?}");
        let out = Command::new("id")
            .args(["-u", &name])
            .output()
            .expect("run id");
        let uid = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("uid of the new user");
        UserGuard { name, uid }
    }
}

impl Drop for UserGuard {
    fn drop(&mut self) {
        // Any process left running as the user would make userdel fail.
        let mut left = Vec::new();
        if let Ok(entries) = fs::read_dir("/proc") {
            for e in entries.flatten() {
                if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
                    if uid_of(pid) == Some(self.uid) && pid_alive(pid) {
                        left.push(pid);
                    }
                }
            }
        }
        for pid in &left {
            kill(*pid, libc::SIGKILL);
        }
        wait_until(Duration::from_secs(5), || {
            !left.iter().any(|p| pid_alive(*p))
        });
        let _ = account_tool(Command::new("userdel").arg(&self.name));
        let _ = account_tool(Command::new("groupdel").arg(&self.name));
    }
}

/// Whether `name` exists in the `getent` database `db` (`passwd`, `group`).
pub fn account_exists(db: &str, name: &str) -> bool {
    Command::new("getent")
        .args([db, name])
        .output()
        .unwrap()
        .status
        .success()
}
