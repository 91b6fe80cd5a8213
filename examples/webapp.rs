//! A tiny HTTP/1.0 server used to exercise process management, in the foreground and as
//! a self-daemonizing program.
//!
//! It listens on `127.0.0.1:$PORT` (or the address in `$BIND`, default `127.0.0.1`) and
//! answers every `GET` with a short text body that names the instance: the value of
//! `$INSTANCE`, or `webapp-PORT` when it is unset. By default it runs in the foreground
//! and writes a line to standard output when it is listening. With `-D` it behaves like
//! nix-processmgmt's example web application: it daemonizes (a new session, detached
//! from the terminal, standard streams on `/dev/null`, `/` as its directory), creates
//! the PID file `$PID_FILE` (which must not exist yet: mode 0600, its own PID), and its
//! first process exits 0 once the daemon listens (non-zero with a message when it
//! cannot). It ends on `SIGTERM` through the default signal disposition.
//!
//! ```text
//! PORT=5000 INSTANCE=webapp1 cargo run --release --example webapp
//! PORT=5000 PID_FILE=/tmp/webapp1.pid cargo run --release --example webapp -- -D
//! ```

use std::env;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

/// Reads the request head and writes one HTTP/1.0 response naming `instance`.
fn serve(stream: TcpStream, instance: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        // A bare connect (a readiness probe) closed without a request.
        return Ok(());
    }
    // Consume the header lines up to the empty line that ends the head.
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("/");
    let (status, body) = if method == "GET" || method == "HEAD" {
        ("200 OK", format!("instance={instance} path={path}\n"))
    } else {
        ("405 Method Not Allowed", "method not allowed\n".to_string())
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(body.as_bytes())?;
    }
    out.flush()
}

fn main() -> ExitCode {
    let port = match env::var("PORT") {
        Ok(p) => match p.trim().parse::<u16>() {
            Ok(n) => n,
            Err(_) => {
                eprintln!("webapp: PORT must be a TCP port number, got {p:?}");
                return ExitCode::from(2);
            }
        },
        Err(_) => {
            eprintln!("webapp: the environment variable PORT is not set");
            return ExitCode::from(2);
        }
    };
    let bind = env::var("BIND").unwrap_or_else(|_| "127.0.0.1".to_string());
    let instance = env::var("INSTANCE").unwrap_or_else(|_| format!("webapp-{port}"));
    let listener = match TcpListener::bind((bind.as_str(), port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("webapp: cannot listen on {bind}:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    if env::args().skip(1).any(|a| a == "-D") {
        let Ok(pid_file) = env::var("PID_FILE") else {
            eprintln!("webapp: -D needs the environment variable PID_FILE");
            return ExitCode::from(2);
        };
        if let Err(e) = daemonize(&pid_file) {
            eprintln!("webapp: cannot daemonize: {e}");
            return ExitCode::from(1);
        }
    } else {
        println!("webapp {instance} listening on {bind}:{port}");
        let _ = std::io::stdout().flush();
    }
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                let name = instance.clone();
                thread::spawn(move || {
                    if let Err(e) = serve(s, &name) {
                        eprintln!("webapp: request failed: {e}");
                    }
                });
            }
            Err(e) => eprintln!("webapp: accept failed: {e}"),
        }
    }
    ExitCode::SUCCESS
}

/// The C library calls daemonizing needs (the example uses the standard library alone,
/// which links the C library anyway).
mod c {
    extern "C" {
        pub fn fork() -> i32;
        pub fn setsid() -> i32;
        pub fn pipe(fds: *mut i32) -> i32;
        pub fn read(fd: i32, buf: *mut u8, count: usize) -> isize;
        pub fn write(fd: i32, buf: *const u8, count: usize) -> isize;
        pub fn close(fd: i32) -> i32;
        pub fn _exit(status: i32) -> !;
        pub fn umask(mask: u32) -> u32;
        pub fn dup2(old: i32, new: i32) -> i32;
    }
}

/// Turns this process into a daemon that holds the listener already bound: forks twice
/// (the middle one leads a new session), the daemon writes `pid_file` (created, never
/// overwritten) and reports to the first process through a pipe; the first process
/// exits with the outcome, so only the daemon returns from here.
fn daemonize(pid_file: &str) -> std::io::Result<()> {
    let check = |rc: i32| {
        if rc == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(rc)
        }
    };
    let mut fds = [0i32; 2];
    // SAFETY: pipe writes two descriptors into the array it is given.
    check(unsafe { c::pipe(fds.as_mut_ptr()) })?;
    let (read_end, write_end) = (fds[0], fds[1]);
    // SAFETY: the program has one thread here (no request was served yet), so the child
    // may go on running Rust code.
    if check(unsafe { c::fork() })? != 0 {
        let mut status = [1u8; 1];
        // SAFETY: closing our copy of the write end, then reading one byte into a buffer
        // we own.
        let n = unsafe {
            c::close(write_end);
            c::read(read_end, status.as_mut_ptr(), 1)
        };
        std::process::exit(if n == 1 { i32::from(status[0]) } else { 1 });
    }
    // SAFETY: setsid in the child, which has one thread.
    check(unsafe { c::setsid() })?;
    // SAFETY: as the first fork; the middle process leaves at once.
    if check(unsafe { c::fork() })? != 0 {
        // SAFETY: _exit ends the middle process without running anything else.
        unsafe { c::_exit(0) };
    }
    let result = detach_and_write_pid(pid_file);
    let status = [u8::from(result.is_err())];
    // SAFETY: writing one byte from a buffer we own, then closing the descriptor.
    unsafe {
        c::write(write_end, status.as_ptr(), 1);
        c::close(write_end);
    }
    if let Err(e) = &result {
        // Standard error is still the caller's when the PID file failed.
        eprintln!("webapp: {pid_file}: {e}");
        std::process::exit(1);
    }
    Ok(())
}

/// The daemon's own set-up: `/` as its directory, the PID file, standard streams on
/// `/dev/null`.
fn detach_and_write_pid(pid_file: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    std::env::set_current_dir("/")?;
    // SAFETY: umask only sets this process's file mode mask.
    unsafe { c::umask(0) };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(pid_file)?;
    write!(file, "{}", std::process::id())?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors of this process.
        unsafe { c::dup2(null.as_raw_fd(), fd) };
    }
    Ok(())
}
