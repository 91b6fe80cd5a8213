//! Accounts: throwaway system users, and the account tools run one at a time; the
//! switch tool with an account registry of a test's own.
//!
//! useradd, userdel and their kin lock the account files and fail at once when another
//! tool holds them. The tests of this binary run them one at a time through
//! [`account_tool`], which also waits while a tool outside the tests' control (the switch
//! tool a concurrent test runs) holds the lock.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::processes::kill;
use super::sandbox::Sandbox;
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

/// The name of the group with gid `gid`, if there is one.
pub fn group_of_gid(gid: u32) -> Option<String> {
    let out = Command::new("getent")
        .args(["group", &gid.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let name = text.split(':').next().filter(|n| !n.is_empty())?;
    out.status.success().then(|| name.to_string())
}

/// Removes the accounts it lists (`getent` database and name) whatever happens.
pub struct AccountsGuard(pub Vec<(&'static str, String)>);

impl Drop for AccountsGuard {
    fn drop(&mut self) {
        for (db, name) in &self.0 {
            let tool = if *db == "passwd" {
                "userdel"
            } else {
                "groupdel"
            };
            if account_exists(db, name) {
                let _ = account_tool(Command::new(tool).arg(name));
            }
        }
    }
}

/// A short suffix unique to this call (process and time), for account names.
pub fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{:x}{:x}", std::process::id() % 0xfff, nanos % 0xfffff)
}

/// A fresh user name `PREFIX` and a unique suffix, and a guard that removes the user and
/// group of that name at the end of the test.
pub fn fresh_user(prefix: &str) -> (String, AccountsGuard) {
    let user = format!("{prefix}{}", unique());
    let guard = AccountsGuard(vec![("passwd", user.clone()), ("group", user.clone())]);
    (user, guard)
}

/// A sandbox and the path of the accounts registry its switches use.
pub fn sandbox_with_registry() -> (Sandbox, PathBuf) {
    let sb = Sandbox::new();
    let registry = sb.path().join("registry");
    (sb, registry)
}

/// A uid (and gid) that no account and no running process has. Other tests may delete
/// a user while its processes still run; an account given that uid again would be
/// (rightly) kept as in use, so the users made here never take a recycled id.
pub fn free_id() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
    loop {
        let id = 30_000 + seed.wrapping_add(NEXT.fetch_add(1, Ordering::SeqCst) * 7) % 29_000;
        let text = id.to_string();
        let used_by_process = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read_to_string(e.path().join("status")).is_ok_and(|st| {
                st.lines()
                    .filter(|l| l.starts_with("Uid:") || l.starts_with("Gid:"))
                    .any(|l| l.split_whitespace().skip(1).any(|v| v == text))
            })
        });
        if !used_by_process && !account_exists("passwd", &text) && !account_exists("group", &text) {
            return id;
        }
    }
}

/// An account registry directory shared by the tests of this run whose switches choose
/// ids: like the one registry of a machine, it serialises their account changes and lets
/// each see the ids the others recorded (switches with registries of their own could
/// pick one free id at the same instant). Per run, so its record does not grow from run
/// to run.
pub fn shared_registry() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("accounts-registry-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        dir
    })
    .clone()
}

/// The switch tool for profile link `profiles/LINK` of the sandbox, with its own state
/// directory `STATE` and the account registry in `registry` (shared by every state
/// directory, like the machine's).
pub fn switch_in(sb: &Sandbox, link: &str, state: &str, registry: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-switch"));
    c.arg("-p")
        .arg(sb.path().join("profiles").join(link))
        .arg("--state-dir")
        .arg(sb.path().join(state))
        .args(["--runlevel", "3"])
        .env_remove("NIXPROC_PROCESSES")
        .env_remove("NIXPROC_TEST_KILL_AT_RECORD")
        .env("NIXPROC_SYSVINIT_ACCOUNTS_DIR", registry);
    c
}

/// Runs [`switch_in`] with `args`.
pub fn run_in(sb: &Sandbox, link: &str, state: &str, registry: &Path, args: &[&str]) -> Output {
    switch_in(sb, link, state, registry)
        .args(args)
        .output()
        .unwrap()
}

/// The uid and primary gid of user `name`.
pub fn ids_of(name: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, name]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

/// The registry's text (empty when there is none).
pub fn registry_text(registry: &Path) -> String {
    std::fs::read_to_string(registry.join("accounts.json")).unwrap_or_default()
}

/// Held while a test makes accounts of fixed names (the upstream example's `nginx`,
/// `webapp1`...), which no other test may make at the same time, in this run or in
/// another run of the suite on this machine: an exclusive `flock` on a file only root
/// can write (in `/run`; in the build's temp directory for other users). Released on
/// drop.
pub struct AccountNamesLock {
    _file: fs::File,
}

impl AccountNamesLock {
    /// Takes the lock of the account names `what` (a short word), waiting up to 10
    /// minutes for a test holding it.
    pub fn take(what: &str) -> AccountNamesLock {
        use std::os::fd::AsRawFd;
        // SAFETY: geteuid has no preconditions.
        let dir = if unsafe { libc::geteuid() } == 0 {
            PathBuf::from("/run")
        } else {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        };
        let path = dir.join(format!("nixproc-sysvinit-test-accounts-{what}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let locked = wait_until(Duration::from_secs(600), || {
            // SAFETY: the descriptor is open for the duration of the call.
            unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
        });
        assert!(locked, "{} stayed locked for 10 minutes", path.display());
        AccountNamesLock { _file: file }
    }
}
