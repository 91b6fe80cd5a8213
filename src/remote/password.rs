//! `--ask-sudo-password`: the hosts' sudo password, read once from the controlling
//! terminal with echo off (never from standard input or a file), kept in memory only,
//! and cleared when dropped. It reaches a host only on the standard input of `sudo -S`.

use std::fmt;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

/// A password in memory; never shown by `Debug`, overwritten when dropped.
pub struct SudoPassword(Vec<u8>);

impl SudoPassword {
    /// The password followed by a newline, as `sudo -S` reads it.
    pub fn line(&self) -> Vec<u8> {
        let mut line = self.0.clone();
        line.push(b'\n');
        line
    }
}

impl fmt::Debug for SudoPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SudoPassword(..)")
    }
}

impl Drop for SudoPassword {
    fn drop(&mut self) {
        for byte in self.0.iter_mut() {
            // A volatile write the optimiser keeps.
            // SAFETY: `byte` is a valid, exclusive reference into the vector.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

/// Why the password could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// There is no terminal to ask on.
    #[error("--ask-sudo-password: no terminal to read the password from ({0}); it is never read from a pipe or a file")]
    NoTerminal(std::io::Error),
    /// Reading or setting up the terminal failed.
    #[error("--ask-sudo-password: reading the password from the terminal failed: {0}")]
    Io(std::io::Error),
    /// The line was empty, or the terminal closed first.
    #[error("--ask-sudo-password: no password was given")]
    Empty,
    /// The password holds a character `sudo -S` could not take.
    #[error("--ask-sudo-password: the password contains a NUL or carriage return")]
    Unusable,
}

/// Asks for the password on the controlling terminal (`/dev/tty`), showing `prompt`,
/// with echo off while it is typed; the terminal's settings are restored afterwards.
pub fn ask(prompt: &str) -> Result<SudoPassword, PasswordError> {
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(PasswordError::NoTerminal)?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is the open terminal above; `saved` is a valid termios to fill.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(PasswordError::NoTerminal(std::io::Error::last_os_error()));
    }
    let mut quiet = saved;
    quiet.c_lflag &= !(libc::ECHO | libc::ECHONL);
    quiet.c_lflag |= libc::ICANON;
    // Echo goes off before the prompt shows: nothing typed after it is ever echoed
    // (what was typed before it is discarded).
    // SAFETY: `quiet` is a copy of the settings tcgetattr filled, for the same descriptor.
    if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) } != 0 {
        return Err(PasswordError::Io(std::io::Error::last_os_error()));
    }
    let read = tty
        .write_all(prompt.as_bytes())
        .and_then(|()| tty.flush())
        .and_then(|()| read_line(&mut tty));
    // SAFETY: restores the settings read above on the same descriptor.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    let _ = tty.write_all(b"\n");
    let line = read.map_err(PasswordError::Io)?;
    if line.0.is_empty() {
        return Err(PasswordError::Empty);
    }
    if line.0.iter().any(|&b| b == 0 || b == b'\r') {
        return Err(PasswordError::Unusable);
    }
    Ok(line)
}

/// One line (without its newline), byte by byte so nothing after it is consumed.
fn read_line(input: &mut impl Read) -> std::io::Result<SudoPassword> {
    let mut line = SudoPassword(Vec::new());
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.0.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_read_up_to_its_newline_and_never_shown() {
        let mut input: &[u8] = b"s3cret pass\nnext";
        let password = read_line(&mut input).unwrap();
        assert_eq!(password.line(), b"s3cret pass\n");
        assert_eq!(input, b"next");
        assert_eq!(format!("{password:?}"), "SudoPassword(..)");
    }
}
