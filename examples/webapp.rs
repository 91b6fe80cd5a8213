//! A tiny HTTP/1.0 server used to exercise foreground process management.
//!
//! It listens on `127.0.0.1:$PORT` (or the address in `$BIND`, default `127.0.0.1`) and
//! answers every `GET` with a short text body that names the instance: the value of
//! `$INSTANCE`, or `webapp-PORT` when it is unset. It runs in the foreground, writes a
//! line to standard output when it is listening, and ends on `SIGTERM` through the
//! default signal disposition. Only the standard library is used.
//!
//! ```text
//! PORT=5000 INSTANCE=webapp1 cargo run --release --example webapp
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
    println!("webapp {instance} listening on {bind}:{port}");
    let _ = std::io::stdout().flush();
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
