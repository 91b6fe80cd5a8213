//! How lines of logs are written: each with its process's name in front when more than
//! one process is shown.

use std::io::{self, Write};

use super::LogSource;

/// How lines are written: with a `NAME | ` prefix (names padded to one width) when more
/// than one process is shown.
pub struct Printer<W: Write> {
    /// Where the lines go.
    out: W,
    /// The width names are padded to, when lines get a prefix.
    width: Option<usize>,
}

impl<W: Write> Printer<W> {
    /// A printer for `sources` into `out`.
    pub fn new(out: W, sources: &[LogSource]) -> Printer<W> {
        let width =
            (sources.len() > 1).then(|| sources.iter().map(|s| s.name.len()).max().unwrap_or(0));
        Printer { out, width }
    }

    /// Writes one line (without its newline) of process `name`.
    pub fn line(&mut self, name: &str, line: &[u8]) -> io::Result<()> {
        if let Some(width) = self.width {
            write!(self.out, "{name:<width$} | ")?;
        }
        self.out.write_all(line)?;
        self.out.write_all(b"\n")
    }

    /// Flushes what was written.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_processes_get_a_padded_prefix() {
        let sources = [
            LogSource {
                name: "a".into(),
                files: vec![],
                uid: None,
            },
            LogSource {
                name: "web".into(),
                files: vec![],
                uid: None,
            },
        ];
        let mut out = Vec::new();
        let mut printer = Printer::new(&mut out, &sources);
        printer.line("a", b"x").unwrap();

        assert_eq!(String::from_utf8(out).unwrap(), "a   | x\n");
    }
}
