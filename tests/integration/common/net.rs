//! The network: free ports on 127.0.0.1 and plain HTTP/1.0 requests, polled without
//! fixed sleeps.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use super::wait_until;

/// A TCP port on 127.0.0.1 that was free when this returned.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

/// A base port with `n` consecutive ports that were free when this returned.
pub fn free_ports(n: u16) -> u16 {
    for _ in 0..100 {
        let base = free_port();
        if base > 65000 {
            continue;
        }
        if (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports on 127.0.0.1");
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

/// GET / from 127.0.0.1:`port` with `host` as the virtual host: the whole response, or
/// `None` when nothing answered within 5 s.
pub fn http_get_host(port: u16, host: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
