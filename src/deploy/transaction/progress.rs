//! The progress display of a switch or an activity run: what the executor's events look
//! like to a person (a terminal's redrawn status line, or plain lines) or to a program
//! (`--json`: one object per event on stdout). The executor only reports events; this
//! module decides how they are shown.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use crate::deploy::scripts::execute::Event;
use crate::protocol;

/// `println!` that never fails: when the reader of the progress has gone (a deployer
/// whose SSH connection dropped), the switch goes on and finishes its transaction.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that never fails (see [`out!`]).
macro_rules! err {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// Shows progress: on a terminal, one finished line per process plus a redrawn status
/// line of what is running; otherwise plain lines. With `json`, one JSON object per
/// event on stdout instead.
pub struct Progress {
    tty: bool,
    json: bool,
    quiet: bool,
    running: BTreeMap<String, Instant>,
    status_shown: bool,
    done: usize,
    total: usize,
    echo_output: bool,
}

impl Progress {
    /// A progress display writing to stderr (or JSON to stdout).
    pub fn new(json: bool, quiet: bool) -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal() && !json,
            json,
            quiet,
            running: BTreeMap::new(),
            status_shown: false,
            done: 0,
            total: 0,
            echo_output: false,
        }
    }

    /// Whether the lines (text mode) show each finished step's output under it, as a
    /// rollback does: what its stops found and killed is worth reading.
    pub fn echo_output(&mut self, echo: bool) {
        self.echo_output = echo;
    }

    /// Announces a phase of `total` steps.
    pub fn phase(&mut self, label: &str, total: usize) {
        self.done = 0;
        self.total = total;
        if total == 0 || self.quiet {
            return;
        }
        let event = protocol::Event::Phase {
            phase: label.to_string(),
            steps: total,
        };
        if self.json {
            out!("{}", event.to_line());
        } else {
            self.clear_status();
            err!("{}", event.describe().unwrap_or_default());
        }
    }

    /// Reports one executor event.
    pub fn event(&mut self, ev: &Event) {
        if self.quiet {
            return;
        }
        match ev {
            Event::Launched { step, .. } => {
                self.running.insert(step.name.clone(), Instant::now());
                if self.json {
                    out!(
                        "{}",
                        protocol::Event::Launched {
                            name: step.name.clone(),
                            action: step.action.as_str().to_string(),
                        }
                        .to_line()
                    );
                }
            }
            Event::Finished {
                step,
                ok,
                status,
                elapsed,
                log,
            } => {
                self.running.remove(&step.name);
                self.done += 1;
                let event = protocol::Event::Finished {
                    name: step.name.clone(),
                    action: step.action.as_str().to_string(),
                    ok: *ok,
                    status: status.clone(),
                    seconds: elapsed.as_secs_f64(),
                };
                if self.json {
                    out!("{}", event.to_line());
                    return;
                }
                self.clear_status();
                let line = event.describe().unwrap_or_default();
                err!("[{}/{}] {line}", self.done, self.total);
                if self.echo_output {
                    show_output(log);
                }
            }
            Event::Tick => {}
        }
        if self.tty {
            self.draw_status();
        }
    }

    /// Redraws the status line: what runs and for how long.
    fn draw_status(&mut self) {
        self.clear_status();
        if self.running.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut line = format!("  running ({}):", self.running.len());
        for (name, since) in &self.running {
            line.push_str(&format!(" {name} {:.1}s", (now - *since).as_secs_f64()));
            if line.len() > 150 {
                line.push_str(" …");
                break;
            }
        }
        let mut err = std::io::stderr();
        let _ = write!(err, "{line}");
        let _ = err.flush();
        self.status_shown = true;
    }

    /// Erases the status line, if one is shown.
    fn clear_status(&mut self) {
        if self.status_shown {
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.status_shown = false;
        }
    }

    /// Removes the status line (end of a phase).
    pub fn finish(&mut self) {
        self.clear_status();
    }
}

/// Shows the output of a step (at most its last 20 lines), indented under its line.
fn show_output(log: &std::path::Path) {
    let Ok(text) = std::fs::read_to_string(log) else {
        return;
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for line in &lines[lines.len().saturating_sub(20)..] {
        err!("      {line}");
    }
}
