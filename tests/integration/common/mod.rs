//! Helpers shared by the integration tests that drive real processes.
//!
//! - [`TestDir`]: a temporary directory that others can traverse (so processes that run
//!   as a throwaway user can reach programs and state inside it).
//! - [`free_port`]: a TCP port on 127.0.0.1 that was free a moment ago.
//! - [`ProcessGuard`]: on drop, kills what a test started (PIDs, PID files, and the whole
//!   session of daemons that made themselves session leaders), pass or fail.
//! - [`UserGuard`]: a throwaway system user, removed on drop.
//! - [`http_get`], [`wait_http`], [`wait_until`]: polling without fixed sleeps.
//! - [`run_script`]: runs a shell script with its output captured in files (a daemon
//!   that keeps an inherited pipe open can never make a test hang).
//! - [`library_path`], [`webapp_binary`]: the init-functions library with its
//!   placeholders substituted, and the example web server built for the tests.
#![allow(dead_code)]

pub mod nixbuild;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

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

/// A TCP port on 127.0.0.1 that was free when this returned.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

/// True when `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => false,
        },
        Err(_) => false,
    }
}

/// Asserts that `pid` is gone after `after` (the run that should have ended it); on
/// failure the message shows that run and what the kernel says of the process.
pub fn assert_gone(pid: i32, after: &Run) {
    if pid_alive(pid) {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        panic!(
            "process {pid} is still alive after {after:?}\nstat: {stat}cmdline: {:?}",
            String::from_utf8_lossy(&cmdline)
        );
    }
}

/// The session id of `pid`, if it exists.
pub fn session_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // state ppid pgrp session
    rest.split_whitespace().nth(3)?.parse().ok()
}

/// The real uid of `pid`.
pub fn uid_of(pid: i32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The first PID in a PID file.
pub fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Live (non-zombie) processes whose command line contains `needle`.
pub fn pids_with_cmdline(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let me = std::process::id() as i32;
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if pid == me || !pid_alive(pid) {
                continue;
            }
            if let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) {
                let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
                if cmd.contains(needle) {
                    out.push(pid);
                }
            }
        }
    }
    out
}

fn kill(pid: i32, sig: i32) {
    if pid > 1 {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// The variable that marks every process this test binary starts (inherited through
/// scripts, `start_daemon` and `daemon --inherit`; Nix builders get a clean environment).
const TAG_VARIABLE: &str = "NIXPROC_TEST_TAG";

/// This test binary's tag, put into its environment on first use.
fn test_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let tag = format!("{}-{nanos}", std::process::id());
        std::env::set_var(TAG_VARIABLE, &tag);
        tag
    })
}

/// Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat).
fn start_time_of(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Kills everything a test started when dropped: listed PIDs, the PIDs in listed PID
/// files (and their `.clientpid` companions), every live process in a session led by one
/// of those, and every live process whose command line contains a listed marker (for
/// example the test's temporary directory).
///
/// A PID read from a file at drop time may have been reused by an unrelated process, so
/// it is only killed when the process carries this test binary's tag in its environment
/// or a marker in its command line; an explicit PID only while it has the start time it
/// had when it was listed. Nothing else is ever signalled.
pub struct ProcessGuard {
    pids: Vec<(i32, Option<u64>)>,
    pid_files: Vec<PathBuf>,
    markers: Vec<String>,
}

impl Default for ProcessGuard {
    fn default() -> Self {
        test_tag();
        ProcessGuard {
            pids: Vec::new(),
            pid_files: Vec::new(),
            markers: Vec::new(),
        }
    }
}

impl ProcessGuard {
    /// An empty guard; from now on processes this test binary starts carry its tag.
    pub fn new() -> ProcessGuard {
        ProcessGuard::default()
    }

    /// Kills `pid` (and its session, if it leads one) on drop, if it is still the same
    /// process then.
    pub fn pid(&mut self, pid: i32) -> &mut Self {
        self.pids.push((pid, start_time_of(pid)));
        self
    }

    /// Kills whatever `path` names at drop time (if it is one of this test's processes).
    pub fn pid_file(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.pid_files.push(path.into());
        self
    }

    /// Kills every process whose command line contains `marker` on drop.
    pub fn marker(&mut self, marker: impl Into<String>) -> &mut Self {
        self.markers.push(marker.into());
        self
    }

    /// Whether `pid` is one of this test binary's processes: tagged or marked.
    fn belongs(&self, pid: i32) -> bool {
        let tagged = fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
            let wanted = format!("{TAG_VARIABLE}={}", test_tag());
            env.split(|b| *b == 0).any(|var| var == wanted.as_bytes())
        });
        tagged
            || fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|raw| {
                let cmd = String::from_utf8_lossy(&raw);
                self.markers.iter().any(|m| cmd.contains(m.as_str()))
            })
    }

    /// Kills everything now (also done on drop).
    pub fn cleanup(&mut self) {
        let mut targets: Vec<i32> = self
            .pids
            .iter()
            .filter(|(pid, started)| started.is_some() && start_time_of(*pid) == *started)
            .map(|(pid, _)| *pid)
            .collect();
        for f in &self.pid_files {
            let listed = [read_pid(f), read_pid(&f.with_extension("clientpid"))];
            targets.extend(listed.into_iter().flatten().filter(|p| self.belongs(*p)));
        }
        for m in &self.markers {
            targets.extend(pids_with_cmdline(m));
        }
        // Sessions led by one of ours: every member that started after its leader.
        let leaders: Vec<(i32, Option<u64>)> = targets
            .iter()
            .filter(|p| session_of(**p) == Some(**p))
            .map(|p| (*p, start_time_of(*p)))
            .collect();
        if !leaders.is_empty() {
            if let Ok(entries) = fs::read_dir("/proc") {
                for e in entries.flatten() {
                    let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok())
                    else {
                        continue;
                    };
                    let member_of = session_of(pid)
                        .and_then(|s| leaders.iter().find(|(leader, _)| *leader == s));
                    if let Some((_, Some(leader_start))) = member_of {
                        if start_time_of(pid).is_some_and(|t| t >= *leader_start) {
                            targets.push(pid);
                        }
                    }
                }
            }
        }
        let me = std::process::id() as i32;
        targets.retain(|p| *p > 1 && *p != me);
        targets.sort_unstable();
        targets.dedup();
        for p in &targets {
            if pid_alive(*p) {
                kill(*p, libc::SIGKILL);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while targets.iter().any(|p| pid_alive(*p)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        self.cleanup();
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
        let _serial = ACCOUNT_CHANGES.lock().unwrap_or_else(|e| e.into_inner());
        let status = Command::new("useradd")
            .args(["-r", "-M", "-s", "/usr/sbin/nologin", "-d"])
            .arg(home)
            .arg(&name)
            .status()
            .expect("run useradd");
        assert!(status.success(), "useradd {name} failed");
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

/// useradd and userdel lock the account files and fail at once when another holds them:
/// the tests of one binary change accounts one at a time.
static ACCOUNT_CHANGES: std::sync::Mutex<()> = std::sync::Mutex::new(());

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
        let _serial = ACCOUNT_CHANGES.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel").arg(&self.name).status();
        let _ = Command::new("groupdel")
            .arg(&self.name)
            .stderr(Stdio::null())
            .status();
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

/// Polls `f` every 10 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `GET path` to 127.0.0.1:`port` and returns (status line, body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head.lines().next().unwrap_or_default().to_string();
    Ok((status, body.to_string()))
}

/// Waits until `GET /` on `port` answers; returns the body.
pub fn wait_http(port: u16, timeout: Duration) -> Option<String> {
    let mut body = None;
    wait_until(timeout, || match http_get(port, "/") {
        Ok((_, b)) => {
            body = Some(b);
            true
        }
        Err(_) => false,
    });
    body
}

/// True when nothing accepts connections on 127.0.0.1:`port`.
pub fn port_closed(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

/// The result of a script run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `program args` with extra environment `env`, capturing output through files in
/// `dir` so that daemons that inherit the descriptors cannot block the test.
pub fn run_script(dir: &Path, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let out_path = dir.join(format!(".run-{n}.out"));
    let err_path = dir.join(format!(".run-{n}.err"));
    let out = fs::File::create(&out_path).expect("create the output file");
    let err = fs::File::create(&err_path).expect("create the error file");
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Writes the init-functions library to `dest` with its placeholders substituted the
/// way `nix/init-functions.nix` does (the base PATH is left empty: the host's PATH is
/// used). Returns `dest`.
pub fn library_path(dest: &Path, runtime_dir: &Path) -> PathBuf {
    let text = fs::read_to_string(repo_root().join("nix/init-functions.sh"))
        .expect("read nix/init-functions.sh");
    let quoted = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let text = text
        .replace(
            "'@runtimeDir@'",
            &quoted(runtime_dir.to_str().expect("utf-8 path")),
        )
        .replace("'@basePath@'", "''")
        .replace("'@daemon@'", "''");
    fs::write(dest, text).expect("write the library");
    fs::set_permissions(dest, fs::Permissions::from_mode(0o644)).expect("chmod the library");
    dest.to_path_buf()
}

/// The example web server (`examples/webapp.rs`), compiled once per test run.
///
/// `NIXPROC_SYSVINIT_WEBAPP` may name an already built binary (for example the result
/// of `cargo build --release --example webapp`); otherwise the example, which uses only
/// the standard library, is compiled with `rustc` into cargo's test scratch directory.
pub fn webapp_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("NIXPROC_SYSVINIT_WEBAPP") {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "NIXPROC_SYSVINIT_WEBAPP={} is not a file",
                p.display()
            );
            return p;
        }
        let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("webapp-example");
        fs::create_dir_all(&out_dir).expect("create the example build directory");
        let tmp = out_dir.join(format!("webapp.{}.tmp", std::process::id()));
        let out = out_dir.join("webapp");
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let status = Command::new(rustc)
            .args(["--edition", "2021", "-O", "--crate-name", "webapp", "-o"])
            .arg(&tmp)
            .arg(repo_root().join("examples/webapp.rs"))
            .status()
            .expect("run rustc on examples/webapp.rs");
        assert!(status.success(), "compiling examples/webapp.rs failed");
        fs::rename(&tmp, &out).expect("move the compiled example into place");
        out
    })
    .clone()
}

/// Copies `src` into `dir` (mode 0755) so that any user can run it; returns the copy.
pub fn install_program(src: &Path, dir: &Path, name: &str) -> PathBuf {
    let dest = dir.join(name);
    fs::copy(src, &dest).expect("copy a program into the test dir");
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).expect("chmod a program");
    dest
}

/// The evaluator plugin built by `scripts/setup.sh`: `NIXPROC_PLUGIN`, the path recorded in
/// `.nixproc/plugin-path`, or cargo's release directory.
pub fn plugin_path() -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("NIXPROC_PLUGIN") {
        candidates.push(PathBuf::from(p));
    }
    if let Ok(text) = fs::read_to_string(repo_root().join(".nixproc/plugin-path")) {
        candidates.push(PathBuf::from(text.trim()));
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("release/libnixproc_sysvinit_plugin.so"));
    }
    candidates.push(repo_root().join("target/release/libnixproc_sysvinit_plugin.so"));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .expect("the Nix plugin is not built: run scripts/setup.sh (or set NIXPROC_PLUGIN)")
}

/// A copy of `plugin` in `dir` whose recorded Nix version is another one of the same
/// length (`0.999`... for `2.8.0`), as if it were built for another Nix: it loads, refuses
/// to register, and says so in one line. Returns the copy and the version it records.
pub fn plugin_for_another_nix(plugin: &Path, dir: &Path) -> (PathBuf, String) {
    const MARKER: &[u8] = b"nixproc-sysvinit-plugin:nix-version=";
    let mut bytes = fs::read(plugin).expect("read the plugin");
    let at = bytes
        .windows(MARKER.len())
        .position(|w| w == MARKER)
        .expect("the plugin records its Nix version")
        + MARKER.len();
    let len = bytes[at..].iter().position(|&b| b == 0).expect("NUL");
    assert!(len >= 3, "recorded version too short to replace");
    let fake = format!("0.{}", "9".repeat(len - 2));
    bytes[at..at + len].copy_from_slice(fake.as_bytes());
    let copy = dir.join("libnixproc_sysvinit_plugin.so");
    fs::write(&copy, &bytes).expect("write the plugin copy");
    (copy, fake)
}

/// `s` single-quoted for the shell.
pub fn shell_quote(s: impl AsRef<str>) -> String {
    format!("'{}'", s.as_ref().replace('\'', "'\\''"))
}

/// `path` single-quoted for the shell.
pub fn shell_quote_path(path: &Path) -> String {
    shell_quote(path.to_str().expect("utf-8 path"))
}
