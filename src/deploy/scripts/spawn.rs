//! Starting a script for the executor without copying the tool: the child is made with
//! `clone(CLONE_VM)` on a stack of its own (as `posix_spawn` makes its children), shares
//! the tool's memory until it execs, and waits behind a [`Gate`] until the executor has
//! recorded its launch. Waiting for it (with a timeout that kills its
//! process group) and telling a recorded PID from a later process that reuses it are
//! here too.
//!
//! The safety argument of the shared-memory child, in one place: between `clone` and
//! `execv` the child runs only `gated_exec`, which reads its `ChildArgs` (kept alive
//! by the [`Gate`] until the child has exec'd or exited) and calls only async-signal-safe
//! functions (`close`, `setpgid`, `dup2`, `signal`, `sigprocmask`, `read`, `execv`,
//! `write`, `_exit`); it never allocates,
//! never returns into Rust code of the parent and never touches a lock. Its stack is a
//! mapping of its own (`ChildStack`), unmapped only after the child is gone.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// The tool's side of a spawned script's gate: [`Gate::open`] lets the script run;
/// dropping it unopened makes the script exit (status 125) without running.
///
/// The gated child shares the tool's memory until it execs (see [`spawn_script`]), so
/// the gate also owns what the child reads there (its stack, its arguments) and frees
/// them only once the child has exec'd or exited.
#[derive(Debug)]
pub struct Gate {
    /// The gate's write end.
    pipe: Option<File>,
    /// The read end of a close-on-exec pipe whose write end only the child holds: it
    /// reads end-of-file once the child has exec'd or exited.
    exec_report: File,
    /// What the child reads until it execs.
    _child: Box<ChildArgs>,
    /// The child's stack.
    _stack: ChildStack,
}

impl Gate {
    /// Lets the script run.
    pub fn open(mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            let _ = pipe.write_all(GATE_WORD);
        }
    }
}

impl Drop for Gate {
    /// Closes the gate (a child still waiting exits) and waits until the child no
    /// longer uses the tool's memory: it has exec'd the script or exited.
    fn drop(&mut self) {
        drop(self.pipe.take());
        let mut buf = [0u8; 16];
        loop {
            match self.exec_report.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
}

/// What the gate's pipe carries to let a script run.
const GATE_WORD: &[u8] = b"go\n";

/// A script started by [`spawn_script`]: its pid, until it is reaped.
#[derive(Debug)]
pub struct Script {
    pid: libc::pid_t,
}

impl Script {
    /// The script's pid (also its process group id).
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Waits for the script to exit.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.wait_flags(0)
            .map(|s| s.expect("waitpid without WNOHANG returns a status"))
    }

    /// The script's status if it has exited, without waiting.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.wait_flags(libc::WNOHANG)
    }

    fn wait_flags(&mut self, flags: libc::c_int) -> std::io::Result<Option<ExitStatus>> {
        loop {
            let mut status = 0;
            // SAFETY: waitpid on our own, not yet reaped child.
            match unsafe { libc::waitpid(self.pid, &mut status, flags) } {
                0 => return Ok(None),
                pid if pid == self.pid => return Ok(Some(ExitStatus::from_raw(status))),
                _ => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
    }
}

/// Starts `SCRIPT ACTION` behind a gate (see [`Gate`]), in a process group of its own
/// (a Ctrl-C at the terminal does not reach the script or the daemons it starts, and a
/// timed-out script can be killed with what it started), with standard input from
/// `/dev/null` and its output going to `log` (a file created for it, or `/dev/null`).
///
/// The child is made with `clone(CLONE_VM)`, as `posix_spawn` makes its children: it
/// shares the tool's memory on a stack of its own instead of copying the tool's page
/// tables (a `fork` of a tool holding a large profile costs more than the trivial
/// script it starts). It waits for the gate and execs the script: one `exec` per
/// script, as when a person runs it.
pub fn spawn_script(script: &Path, action: &str, log: &Path) -> Result<(Script, Gate), String> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    let cannot_run = |e: &dyn std::fmt::Display| format!("cannot run {}: {e}", script.display());
    let program = CString::new(script.as_os_str().as_bytes()).map_err(|e| cannot_run(&e))?;
    let action = CString::new(action).map_err(|e| cannot_run(&e))?;
    // What exec would refuse, refused here with its reason (the child can only exit).
    // SAFETY: access only reads the NUL-terminated path.
    if unsafe { libc::access(program.as_ptr(), libc::X_OK) } != 0 {
        return Err(cannot_run(&std::io::Error::last_os_error()));
    }
    let out = open_log(log)?;
    let null = dev_null()?;
    let (gate_read, gate_write) = cloexec_pipe()?;
    let (report_read, report_write) = cloexec_pipe()?;
    let stack = ChildStack::new().map_err(|e| cannot_run(&e))?;
    let mut child = ChildArgs::new(program, action, null, &out, &gate_read, &gate_write);
    // SAFETY: `child` and `stack` are moved into the Gate below, which keeps them alive
    // until the child has exec'd or exited (see Gate's drop).
    let pid = unsafe { clone_gated(&stack, &mut child) }.map_err(|e| cannot_run(&e))?;
    // The tool's copies of the child's descriptors close here; the child has its own.
    drop((gate_read, out, report_write));
    let gate = Gate {
        pipe: Some(gate_write),
        exec_report: report_read,
        _child: child,
        _stack: stack,
    };
    Ok((Script { pid }, gate))
}

/// The file a script's output goes to: `log` created (truncated), or `/dev/null`
/// opened for writing.
fn open_log(log: &Path) -> Result<File, String> {
    if log == Path::new("/dev/null") {
        File::options().write(true).open(log)
    } else {
        File::create(log)
    }
    .map_err(|e| format!("cannot create {}: {e}", log.display()))
}

/// Makes the gated child: `clone(CLONE_VM)` running [`gated_exec`] on `stack` with
/// `child` as its argument. Returns its pid, or the error of `clone`.
///
/// Every signal is blocked in this thread around the clone, so the child starts with
/// no handler of the tool able to run before it resets them.
///
/// # Safety
///
/// `child` and `stack` must stay alive, and `child` unchanged, until the child has
/// exec'd or exited (a [`Gate`] holding them guarantees it).
unsafe fn clone_gated(stack: &ChildStack, child: &mut ChildArgs) -> std::io::Result<libc::pid_t> {
    let arg: *mut ChildArgs = child;
    // SAFETY: the child runs `gated_exec` on its own stack and reads only `child`, both
    // kept alive by the caller until the child has exec'd or exited. The signal masks
    // are plain values on this thread's stack.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            gated_exec,
            stack.top(),
            libc::CLONE_VM | libc::SIGCHLD,
            arg.cast(),
        );
        let error = std::io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 {
            return Err(error);
        }
        Ok(pid)
    }
}

/// A pipe whose two ends are close-on-exec: (read, write).
fn cloexec_pipe() -> Result<(File, File), String> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!(
            "cannot create a pipe: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe {
        use std::os::fd::FromRawFd;
        Ok((File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])))
    }
}

/// `/dev/null` for the scripts' standard input, opened once per run of the tool.
fn dev_null() -> Result<&'static File, String> {
    static NULL: std::sync::OnceLock<File> = std::sync::OnceLock::new();
    if let Some(f) = NULL.get() {
        return Ok(f);
    }
    let f = File::open("/dev/null").map_err(|e| format!("cannot open /dev/null: {e}"))?;
    Ok(NULL.get_or_init(|| f))
}

/// The stack a gated child runs on until it execs: a private mapping with a guard page
/// below it.
#[derive(Debug)]
struct ChildStack {
    base: *mut libc::c_void,
}

impl ChildStack {
    /// Size of the mapping, guard page included; `gated_exec` needs a few hundred bytes.
    const SIZE: usize = 64 * 1024;
    /// The guard page's size (the smallest page size Linux has).
    const GUARD: usize = 4096;

    fn new() -> std::io::Result<ChildStack> {
        // SAFETY: a fresh anonymous mapping, owned by the returned value.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                Self::SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            let stack = ChildStack { base };
            if libc::mprotect(base, Self::GUARD, libc::PROT_NONE) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(stack)
        }
    }

    /// The top of the stack (stacks grow down), 16-byte aligned.
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping, which is page-aligned.
        unsafe { self.base.cast::<u8>().add(Self::SIZE).cast() }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new(), no longer used by any child (the Gate
        // drops it only after its child exec'd or exited).
        unsafe {
            libc::munmap(self.base, Self::SIZE);
        }
    }
}

/// What a gated child reads from the tool's memory (see [`gated_exec`]).
#[derive(Debug)]
struct ChildArgs {
    /// The script, its action, and the terminating null pointer.
    argv: [*const libc::c_char; 3],
    /// `/dev/null`, for standard input.
    null: libc::c_int,
    /// The log, for standard output and error.
    out: libc::c_int,
    /// The gate's read end.
    gate: libc::c_int,
    /// The gate's write end, which the child must not keep: it would never see the
    /// gate close if the tool died.
    gate_write: libc::c_int,
    /// The storage `argv` points into.
    _program: std::ffi::CString,
    _action: std::ffi::CString,
}

impl ChildArgs {
    /// The arguments of a child that execs `program action` with standard input from
    /// `null`, its output going to `out`, and the gate's two ends: boxed, so that `argv`
    /// can point into the strings the box holds. It holds the descriptors, not the
    /// files: those must stay open until the child is made.
    fn new(
        program: std::ffi::CString,
        action: std::ffi::CString,
        null: &File,
        out: &File,
        gate_read: &File,
        gate_write: &File,
    ) -> Box<ChildArgs> {
        use std::os::fd::AsRawFd;

        let mut child = Box::new(ChildArgs {
            argv: [std::ptr::null(); 3],
            null: null.as_raw_fd(),
            out: out.as_raw_fd(),
            gate: gate_read.as_raw_fd(),
            gate_write: gate_write.as_raw_fd(),
            _program: program,
            _action: action,
        });
        child.argv = [
            child._program.as_ptr(),
            child._action.as_ptr(),
            std::ptr::null(),
        ];
        child
    }
}

/// The child's side of [`spawn_script`]: its own process group, standard descriptors,
/// default signal handling, then wait for the gate and exec the script. (Every other
/// descriptor the tool holds is close-on-exec.)
///
/// It shares the tool's memory, so it only makes system calls on the values in `arg`
/// (no allocation, no lock, nothing that could fail in a way the tool could observe),
/// then execs or exits.
extern "C" fn gated_exec(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the ChildArgs that spawn_script keeps alive until this child has
    // exec'd or exited; everything below is a plain system call.
    unsafe {
        let args = &*arg.cast::<ChildArgs>();
        libc::close(args.gate_write);
        libc::setpgid(0, 0);
        if libc::dup2(args.null, 0) < 0
            || libc::dup2(args.out, 1) < 0
            || libc::dup2(args.out, 2) < 0
        {
            libc::_exit(126);
        }
        // Rust ignores SIGPIPE in its own process and may handle SIGSEGV/SIGBUS; a script
        // gets the defaults, as from a shell. Then nothing is blocked any more.
        for signal in [libc::SIGPIPE, libc::SIGSEGV, libc::SIGBUS] {
            libc::signal(signal, libc::SIG_DFL);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        let mut word = [0u8; 3];
        let mut got = 0usize;
        while got < word.len() {
            let n = libc::read(args.gate, word[got..].as_mut_ptr().cast(), word.len() - got);
            if n <= 0 {
                // The gate closed unopened: the tool died or cancelled this step. (No
                // handler is installed any more, so a read is never interrupted.)
                libc::_exit(125);
            }
            got += n as usize;
        }
        if word != *GATE_WORD {
            libc::_exit(125);
        }
        libc::execv(args.argv[0], args.argv.as_ptr());
        const FAILED: &[u8] = b"nixproc-sysvinit: cannot execute the script\n";
        libc::write(2, FAILED.as_ptr().cast(), FAILED.len());
        libc::_exit(127)
    }
}

/// Waits for a script, killing it when it outlives `timeout`.
pub fn wait_script(child: &mut Script, timeout: Option<Duration>) -> (bool, String) {
    let result = |r: std::io::Result<ExitStatus>| match r {
        Ok(s) if s.success() => (true, "exit 0".to_string()),
        Ok(s) => (false, describe_status(s)),
        Err(e) => (false, format!("waiting for the script: {e}")),
    };
    let Some(limit) = timeout else {
        return result(child.wait());
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return result(Ok(s)),
            Ok(None) => {}
            Err(e) => return result(Err(e)),
        }
        if started.elapsed() >= limit {
            // SAFETY: signalling the process group of our own child, which has not been
            // reaped yet (so its pid, the group id, cannot have been reused).
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGTERM);
            }
            let grace = Instant::now();
            while grace.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = child.try_wait() {
                    return (false, format!("timed out after {}s", limit.as_secs_f64()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // SAFETY: as above.
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.wait();
            return (
                false,
                format!("timed out after {}s (killed)", limit.as_secs_f64()),
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`), to tell it apart
/// from a later process that reuses its pid.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether process `pid`, started at `start_time`, still runs (a zombie counts as gone).
pub fn process_alive(pid: u32, start_time: Option<u64>) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return false;
    }
    match start_time {
        Some(t) => fields.get(19).and_then(|f| f.parse::<u64>().ok()) == Some(t),
        None => true,
    }
}

/// "exit N" or "signal N".
pub fn describe_status(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown status".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    /// Writes an executable script `name` with `body` into `dir`.
    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn an_opened_gate_runs_the_script_in_its_own_group_with_its_output_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let s = script(
            dir.path(),
            "s",
            "#!/bin/sh\necho \"out $1 $(awk '{print $5}' /proc/$$/stat)\"\necho err >&2\nread x || echo \"no input\"\nexit 3\n",
        );
        let log = dir.path().join("s.log");
        let (mut child, gate) = spawn_script(&s, "start", &log).unwrap();
        gate.open();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(3));
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            text,
            format!("out start {}\nerr\nno input\n", child.id()),
            "argument, own process group, stderr in the log, stdin from /dev/null"
        );
    }

    #[test]
    fn a_gate_closed_unopened_never_runs_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let s = script(
            dir.path(),
            "s",
            &format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
        );
        let (mut child, gate) = spawn_script(&s, "start", Path::new("/dev/null")).unwrap();
        drop(gate);
        assert_eq!(child.wait().unwrap().code(), Some(125));
        assert!(!marker.exists());
    }

    #[test]
    fn a_script_that_cannot_be_executed_exits_127_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let s = script(dir.path(), "s", "#!/nonexistent/interpreter\n");
        let log = dir.path().join("s.log");
        let (mut child, gate) = spawn_script(&s, "start", &log).unwrap();
        gate.open();
        assert_eq!(child.wait().unwrap().code(), Some(127));
        assert!(std::fs::read_to_string(&log)
            .unwrap()
            .contains("cannot execute the script"));
        let not_executable = dir.path().join("plain");
        std::fs::write(&not_executable, "").unwrap();
        let err = spawn_script(&not_executable, "start", &log).unwrap_err();
        assert!(err.starts_with("cannot run "), "{err}");
    }

    #[test]
    fn many_scripts_in_a_row_each_get_their_own_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let s = script(dir.path(), "s", "#!/bin/sh\necho \"$1\"\n");
        let mut children = Vec::new();
        for i in 0..200 {
            let log = dir.path().join(format!("{i}.log"));
            let (child, gate) = spawn_script(&s, &format!("action{i}"), &log).unwrap();
            gate.open();
            children.push((i, child, log));
        }
        for (i, mut child, log) in children {
            assert!(child.wait().unwrap().success());
            assert_eq!(
                std::fs::read_to_string(log).unwrap(),
                format!("action{i}\n")
            );
        }
    }
}
