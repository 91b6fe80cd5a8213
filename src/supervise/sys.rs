//! The system calls of the supervisor, through libc, each wrapped once with its SAFETY
//! argument so that the rest of the module is safe code (the client's side of the fork,
//! which may only make async-signal-safe calls, is in `spawn`).

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// A libc return value as a result: -1 is the error in `errno`.
pub fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A pipe, both ends close-on-exec: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors were just created and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Makes reads of `fd` return at once when there is nothing to read.
pub fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL on a descriptor the caller owns take no pointers.
    unsafe {
        let flags = cvt(libc::fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
        cvt(libc::fcntl(
            fd.as_raw_fd(),
            libc::F_SETFL,
            flags | libc::O_NONBLOCK,
        ))?;
    }
    Ok(())
}

/// Asks for a pipe buffer of `bytes` (fewer wake-ups of the reader); a refusal is fine.
pub fn grow_pipe(fd: &OwnedFd, bytes: libc::c_int) {
    // SAFETY: F_SETPIPE_SZ on a pipe the caller owns takes an integer, no pointer.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, bytes);
    }
}

/// The time from `now` until `deadline` (`None`: no deadline).
pub fn until(deadline: Option<Instant>, now: Instant) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(now))
}

/// poll(2) with a timeout (`None`: wait for ever), rounded up to milliseconds. An
/// interrupted poll returns 0 ready descriptors.
pub fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<usize> {
    let ms = match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_micros().div_ceil(1000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    };
    // SAFETY: the pointer and length describe the caller's slice of pollfd structs.
    let ret = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    match cvt(ret) {
        Ok(n) => Ok(n as usize),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}

/// A pollfd asking whether `fd` is readable.
pub fn poll_in(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// One read(2) into `buf`, retried when interrupted.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: the pointer and length describe the caller's writable buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Writes all of `buf` to `fd`.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: the pointer and length describe the caller's buffer.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// /dev/null, close-on-exec, for reading or for writing.
pub fn dev_null(write: bool) -> io::Result<OwnedFd> {
    let file = fs::OpenOptions::new()
        .read(!write)
        .write(write)
        .open("/dev/null")?;
    Ok(file.into())
}

/// Opens /dev/null on whichever of the descriptors 0, 1 and 2 is closed, so that no
/// descriptor the supervisor opens later takes a standard number.
pub fn ensure_std_fds() {
    for fd in 0..3 {
        // SAFETY: F_GETFD takes no pointer; it only asks whether `fd` is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            // SAFETY: open reads a NUL-terminated literal; the result is `fd` (the lowest
            // free number) and is deliberately left open.
            unsafe { libc::open(b"/dev/null\0".as_ptr().cast(), libc::O_RDWR) };
        }
    }
}

/// Closes every descriptor above 2 the process inherited, so that no client holds a
/// pipe or file of whoever started the supervisor (a caller waiting for the end of a
/// pipe would wait for ever). Call it first, before anything is opened.
pub fn close_inherited_fds() {
    let Ok(entries) = fs::read_dir("/proc/self/fd") else {
        return;
    };
    // Collected first: the directory's own descriptor is among the entries.
    let fds: Vec<RawFd> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: nothing in this process owns these descriptors yet (this runs before
        // the supervisor opens anything); closing the directory's, already closed, fails
        // harmlessly with EBADF.
        unsafe { libc::close(fd) };
    }
}

/// Points the standard input, output and error at /dev/null.
pub fn std_fds_to_null() -> io::Result<()> {
    let null = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        // SAFETY: dup2 between descriptors; `null` lives across the calls.
        cvt(unsafe { libc::dup2(null.as_raw_fd(), fd) })?;
    }
    Ok(())
}

/// fork(2): `Some(pid)` in the parent, `None` in the child.
///
/// # Safety
///
/// In a process with more than one thread the child may only make async-signal-safe
/// calls until it execs or exits.
pub unsafe fn fork() -> io::Result<Option<libc::pid_t>> {
    // SAFETY: the caller upholds the rule above.
    let pid = cvt(unsafe { libc::fork() })?;
    Ok((pid != 0).then_some(pid))
}

/// `clone3(2)` with `CLONE_INTO_CGROUP`: like [`fork`], with the child born in the cgroup
/// (v2) whose directory `cgroup` is open (no migration of a running process, which
/// costs the kernel a grace period: about 16 ms, against 0.1 ms for this). Where the
/// kernel lacks it (before 5.7: `ENOSYS`, `E2BIG`), a plain fork after which the child
/// joins through `cgroup.procs`.
///
/// # Safety
///
/// As for [`fork`]: the caller must have one thread, or the child must make only
/// async-signal-safe calls before it execs.
pub unsafe fn fork_into_cgroup(cgroup: &OwnedFd) -> io::Result<Option<libc::pid_t>> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 reads the argument struct of the size given; without CLONE_VM the
    // child gets a copy of the address space, as with fork, under the caller's rule.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret >= 0 {
        return Ok((ret != 0).then_some(ret as libc::pid_t));
    }
    let error = io::Error::last_os_error();
    if !matches!(error.raw_os_error(), Some(libc::ENOSYS) | Some(libc::E2BIG)) {
        return Err(error);
    }
    // SAFETY: the caller upholds fork's rule.
    let pid = unsafe { fork() }?;
    if pid.is_none() {
        if let Err(e) = join_cgroup_fd(cgroup) {
            // The child must never return an error into its parent's code path: it says
            // why and ends, and the parent sees a child that failed (status 127).
            let _ = write_all(
                libc::STDERR_FILENO,
                format!("nixproc-sysvinit-supervise: cannot join the service's cgroup: {e}\n")
                    .as_bytes(),
            );
            // SAFETY: _exit ends the child at once, without running the parent's exit path.
            unsafe { libc::_exit(127) };
        }
    }
    Ok(pid)
}

/// Moves this process into the cgroup whose directory `cgroup` is open (writes its PID to
/// `cgroup.procs`: for cgroup v1 controllers, and where clone3 cannot).
pub fn join_cgroup_fd(cgroup: &OwnedFd) -> io::Result<()> {
    // SAFETY: openat of a NUL-terminated literal relative to a directory we own.
    let fd = cvt(unsafe {
        libc::openat(
            cgroup.as_raw_fd(),
            b"cgroup.procs\0".as_ptr().cast(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: the descriptor was just opened and is owned by nothing else.
    let procs = unsafe { OwnedFd::from_raw_fd(fd) };
    write_all(procs.as_raw_fd(), format!("{}\n", getpid()).as_bytes())
}

/// Opens the directory of a cgroup, for [`fork_into_cgroup`] and [`join_cgroup_fd`].
pub fn open_dir(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = fs::File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)?;
    Ok(OwnedFd::from(dir))
}

/// setsid(2): a new session (and process group) led by this process.
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid has no arguments and no memory effects.
    cvt(unsafe { libc::setsid() }).map(drop)
}

/// Moves to `/`, so that the supervisor keeps no directory busy.
pub fn chdir_root() -> io::Result<()> {
    // SAFETY: chdir reads a NUL-terminated literal.
    cvt(unsafe { libc::chdir(b"/\0".as_ptr().cast()) }).map(drop)
}

/// Makes orphaned descendants come back to this process as its children.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer argument, no pointer.
    cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) }).map(drop)
}

/// flock(LOCK_EX | LOCK_NB): whether the lock was taken (false: another holds it).
pub fn try_lock(fd: &impl AsRawFd) -> io::Result<bool> {
    // SAFETY: flock on a descriptor the caller owns takes no pointers.
    match cvt(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// This process's PID.
pub fn getpid() -> libc::pid_t {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

/// kill(2); a process that is already gone is not an error.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill has no memory effects; callers never pass 0 or -1 as `pid`.
    match cvt(unsafe { libc::kill(pid, sig) }) {
        Err(e) if e.raw_os_error() != Some(libc::ESRCH) => Err(e),
        _ => Ok(()),
    }
}

/// Signals a client: its whole process group while it leads one (the group it was
/// started in), else the process alone.
pub fn signal_client(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: getpgid has no memory effects.
    let group = unsafe { libc::getpgid(pid) };
    if pid > 1 && group == pid {
        kill(-pid, sig)
    } else if pid > 1 {
        kill(pid, sig)
    } else {
        Ok(())
    }
}

/// Reaps one child that has ended, without waiting: its PID and wait status.
pub fn reap_any() -> Option<(libc::pid_t, libc::c_int)> {
    reap_one().ok().flatten()
}

/// Whether this process has children still (reaping one that exited meanwhile): a
/// cheap answer before [`children`] reads the whole of /proc.
pub fn has_children() -> bool {
    loop {
        match reap_one() {
            Ok(Some(_)) => continue,
            Ok(None) => return true,
            Err(e) => return e.raw_os_error() != Some(libc::ECHILD),
        }
    }
}

/// waitpid(-1, WNOHANG): a child that exited (reaped), `None` while every child runs,
/// `ECHILD` without any child.
fn reap_one() -> io::Result<Option<(libc::pid_t, libc::c_int)>> {
    let mut status = 0;
    // SAFETY: waitpid writes the status into the local it is given.
    let pid = cvt(unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) })?;
    Ok((pid > 0).then_some((pid, status)))
}

/// Waits for the child `pid` to end and reaps it: its wait status.
pub fn wait_for(pid: libc::pid_t) -> io::Result<libc::c_int> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into the local it is given.
        match cvt(unsafe { libc::waitpid(pid, &mut status, 0) }) {
            Ok(_) => return Ok(status),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The live (not zombie) children of `parent`, found through the parent PIDs in
/// /proc/PID/stat. A child's PID cannot be reused before its parent reaps it, so
/// signalling these never reaches an unrelated process.
pub fn children(parent: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .filter(|pid| parent_of(*pid) == Some(parent))
        .collect()
}

/// The parent PID of a live (not zombie) process.
fn parent_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.next()?.parse().ok()
}

/// A signalfd receiving `signals`, which are blocked in the calling thread (and in the
/// threads it starts from now on), so they arrive only here.
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    /// Blocks `signals` and opens a descriptor to read them from.
    pub fn new(signals: &[libc::c_int]) -> io::Result<SignalFd> {
        // SAFETY: the set is initialised by sigemptyset before use; pthread_sigmask and
        // signalfd read it; signalfd returns a new descriptor that nothing else owns.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in signals {
                libc::sigaddset(&mut set, *sig);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            let fd = cvt(libc::signalfd(
                -1,
                &set,
                libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
            ))?;
            Ok(SignalFd {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }

    /// Waits up to `timeout` (`None`: for ever) for a signal; returns it, if one came.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<libc::c_int>> {
        let mut fds = [poll_in(self.fd.as_raw_fd())];
        if poll(&mut fds, timeout)? == 0 {
            return Ok(None);
        }
        // SAFETY: signalfd_siginfo is plain data; zeroed is a valid value of it.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: the buffer is `info`, exactly one signalfd_siginfo long.
        let buf = unsafe { std::slice::from_raw_parts_mut((&mut info as *mut _) as *mut u8, size) };
        match read(self.fd.as_raw_fd(), buf) {
            Ok(n) if n == size => Ok(Some(info.ssi_signo as libc::c_int)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The text of an errno value, as `io::Error` shows it.
pub fn errno_text(errno: i32) -> String {
    io::Error::from_raw_os_error(errno).to_string()
}

/// A C string of the bytes of `text`, or `None` when it holds a NUL byte.
pub fn c_string(text: &[u8]) -> Option<std::ffi::CString> {
    std::ffi::CString::new(text).ok()
}
