//! Running this project's tools on a target host: the tool's own package (what is copied
//! there), and one remote run whose output streams back prefixed with the host's name.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use super::ssh::{classify, Connection};
use super::{RemoteError, TargetHost};
use crate::deploy::model::nix::{nix_command, NixOptions};
use crate::protocol::{Event, SwitchResult, PROTOCOL};

/// The store path of the package holding the running tool, to copy to target hosts:
/// the package the executable lives in when it runs from the Nix store; otherwise the
/// host-packages shim's `nixproc-sysvinit` made from the executable's directory (which
/// only runs on machines of the same kind: it links to the system's C library), kept
/// from the garbage collector by `out_link` (its directory is made as needed).
pub fn own_package(out_link: &Path, options: &NixOptions) -> Result<PathBuf, RemoteError> {
    let failed = |detail: String| RemoteError::Failed {
        host: "localhost".into(),
        step: "finding this tool's package to copy".into(),
        detail,
    };
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| failed(format!("cannot locate the running executable: {e}")))?;
    let store = crate::deploy::profile::generations::store_dir();
    if let Ok(rest) = exe.strip_prefix(&store) {
        if let Some(package) = rest.components().next() {
            return Ok(store.join(package));
        }
    }
    let bin_dir = exe
        .parent()
        .ok_or_else(|| failed("the executable has no directory".into()))?;
    let builder = crate::deploy::model::find_builder().map_err(|e| failed(e.to_string()))?;
    let shim = builder.with_file_name("host-packages.nix");
    if let Some(dir) = out_link.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
    }
    // The package changes only with the files it is made of: reuse the last build of
    // the same files.
    let stamp_file = out_link.with_extension("stamp");
    let stamp = package_stamp(bin_dir, &shim);
    if let Ok(built) = std::fs::canonicalize(out_link) {
        if built.starts_with(&store)
            && std::fs::read_to_string(&stamp_file).is_ok_and(|old| old == stamp)
        {
            return Ok(built);
        }
    }
    let mut cmd = nix_command("nix-build", options);
    cmd.arg(&shim)
        .args(["-A", "nixproc-sysvinit", "--arg", "nixprocBin"])
        .arg(bin_dir)
        .arg("--out-link")
        .arg(out_link)
        .stdin(Stdio::null());
    let output = cmd
        .output()
        .map_err(|e| failed(format!("cannot run nix-build: {e}")))?;
    if !output.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    let path = String::from_utf8_lossy(&output.stdout);
    let path = path.lines().last().unwrap_or("").trim();
    if path.is_empty() {
        return Err(failed("nix-build printed no store path".into()));
    }
    let _ = std::fs::write(&stamp_file, stamp);
    Ok(PathBuf::from(path))
}

/// What the tool's package is made of, as a text that changes when any of its files
/// does: the device, inode, size and modification time of each program in `bin_dir` the
/// package takes, and of the shim that makes it.
fn package_stamp(bin_dir: &Path, shim: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let mut text = String::new();
    let programs = [
        "nixproc-sysvinit-render",
        "nixproc-sysvinit-switch",
        "nixproc-sysvinit-runactivity",
        "nixproc-sysvinit-id-assign",
        "nixproc-sysvinit-supervise",
    ];
    let files = programs
        .iter()
        .map(|name| bin_dir.join(name))
        .chain([shim.to_path_buf()]);
    for file in files {
        let line = match std::fs::metadata(&file) {
            Ok(m) => format!(
                "{} {} {} {} {}.{}\n",
                file.display(),
                m.dev(),
                m.ino(),
                m.size(),
                m.mtime(),
                m.mtime_nsec()
            ),
            Err(_) => format!("{} -\n", file.display()),
        };
        text.push_str(&line);
    }
    text
}

/// How a remote run's standard output comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// The remote tool prints JSON events: each is shown as a line for a person
    /// (phases, finished steps), prefixed with the host.
    Events,
    /// The remote tool prints JSON events: each is passed on as JSON with a `host`
    /// field added.
    EventsAsJson,
    /// Plain text: each line passed on, prefixed with the host.
    Text,
    /// Kept, not shown: the whole output becomes the result, as
    /// `{ "event": "output", "output": ... }` (its JSON when it is JSON, else the text).
    Capture,
}

/// What a finished remote run left on its standard output.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteOutput {
    /// The switch's closing `result` event (runs with [`Echo::Events`] or
    /// [`Echo::EventsAsJson`]).
    Switched(Box<SwitchResult>),
    /// The whole output of an [`Echo::Capture`] run: its JSON when it is JSON, else the
    /// text.
    Captured(serde_json::Value),
}

/// What a finished remote run left, if anything.
pub type RemoteResult = Option<RemoteOutput>;

/// Runs `argv` on the host of `connection` with `input` on its standard input (after
/// the [`Connection::stdin_prefix`]); its standard error comes back line by line on
/// ours, prefixed with `name`; its standard output as `echo` says. A failure is
/// classified by what SSH or the tool said (see [`classify`]); a remote tool's own
/// failure carries the message of its `result` event when it printed one.
pub fn run_remote(
    name: &str,
    connection: &Connection,
    argv: &[&str],
    input: Vec<u8>,
    echo: Echo,
) -> Result<RemoteResult, RemoteError> {
    let mut cmd = connection.command(argv);
    let mut text = connection.stdin_prefix().unwrap_or_default();
    text.extend_from_slice(&input);
    let mut input = input;
    input.iter_mut().for_each(|b| *b = 0);
    let text = (!text.is_empty()).then_some(text);
    run_streaming(name, connection.target(), &mut cmd, text, echo)
}

/// Runs `cmd` (an `ssh` command for `target`) with its output streamed as in
/// [`run_remote`]; its standard input is `input` (the sudo password line, secrets),
/// else empty. The input is written while the output is read, then wiped.
pub fn run_streaming(
    name: &str,
    target: &TargetHost,
    cmd: &mut Command,
    input: Option<Vec<u8>>,
    echo: Echo,
) -> Result<RemoteResult, RemoteError> {
    let spawn_error = |error| RemoteError::Spawn {
        host: target.to_string(),
        program: "ssh".into(),
        error,
    };
    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut child = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let exchanged = exchange(name, &mut child, input, echo);
    let status = child.wait().map_err(spawn_error)?;
    if let Some(RemoteOutput::Switched(r)) = &exchanged.result {
        if r.protocol != PROTOCOL {
            return Err(RemoteError::Protocol {
                host: target.to_string(),
                theirs: r.protocol,
                ours: PROTOCOL,
            });
        }
    }
    if status.success() {
        return Ok(exchanged.result);
    }
    Err(failure(target, &status, exchanged))
}

/// What came back from a remote run.
struct Exchanged {
    /// The `result` event, or the captured output.
    result: RemoteResult,
    /// Whether the tool printed any event (it had begun its work).
    started: bool,
    /// Its standard error, for classifying a failure.
    stderr: String,
}

/// Writes `input` to the child's standard input (then closes it, and wipes the bytes)
/// while its standard output and error are passed on (see [`forward_stdout`] and
/// [`forward_stderr`]).
fn exchange(name: &str, child: &mut Child, input: Option<Vec<u8>>, echo: Echo) -> Exchanged {
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout was piped");
    let stderr = child.stderr.take().expect("stderr was piped");
    std::thread::scope(|scope| {
        if let (Some(mut input), Some(mut stdin)) = (input, stdin) {
            // Then the pipe closes: the remote side reads end of file.
            scope.spawn(move || {
                let _ = stdin.write_all(&input);
                input.iter_mut().for_each(|b| *b = 0);
            });
        }
        let errors = scope.spawn(|| forward_stderr(name, stderr));
        let (result, started) = forward_stdout(name, stdout, echo);
        Exchanged {
            result,
            started,
            stderr: errors.join().unwrap_or_default(),
        }
    })
}

/// The error of a remote run on `target` that ended with `status`: the remote tool's
/// own failure keeps its message, a connection dropped after the tool had begun says
/// so and how to find where the host's switch ended, and anything else is classified
/// from what SSH said (see [`classify`]).
fn failure(target: &TargetHost, status: &ExitStatus, exchanged: Exchanged) -> RemoteError {
    // ssh itself exits 255; the remote tool's own failures keep their status.
    let tool_error = match &exchanged.result {
        Some(RemoteOutput::Switched(r)) => r.error.clone(),
        _ => None,
    };
    let classified = || {
        classify(
            target,
            "the remote run",
            &status.to_string(),
            &exchanged.stderr,
        )
    };
    match (status.code(), tool_error) {
        // ssh failed after the host was reached (the probe and the copies before this
        // run went through): the connection, not the tool, ended the run.
        (Some(255), None) if exchanged.result.is_none() => match classified() {
            RemoteError::Unreachable { detail, .. } | RemoteError::Failed { detail, .. } => {
                let step = if exchanged.started {
                    "the switch"
                } else {
                    "the remote run"
                };
                RemoteError::ConnectionDropped {
                    host: target.to_string(),
                    step: step.into(),
                    detail,
                    query: format!(
                        "nixproc-sysvinit-switch --target-host {target} --list-generations"
                    ),
                }
            }
            other => other,
        },
        (Some(255), _) | (_, None) => classified(),
        (_, Some(error)) => RemoteError::Failed {
            host: target.to_string(),
            step: "the switch".into(),
            detail: error,
        },
    }
}

/// Copies the remote standard error to ours, each line prefixed with `name`; returns
/// the text (for classifying a failure).
fn forward_stderr(name: &str, stderr: impl std::io::Read) -> String {
    let mut text = String::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        eprintln!("{name}: {line}");
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// Passes the remote standard output on as `echo` says; returns the `result` event, and
/// whether the tool printed any event (it had begun its work).
fn forward_stdout(name: &str, mut stdout: impl std::io::Read, echo: Echo) -> (RemoteResult, bool) {
    if echo == Echo::Capture {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        let output = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        return (Some(RemoteOutput::Captured(output)), false);
    }
    let mut result = None;
    let mut started = false;
    let out = std::io::stdout();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let event = match echo {
            Echo::Text | Echo::Capture => None,
            _ => Event::from_line(&line),
        };
        let Some(event) = event else {
            let _ = writeln!(out.lock(), "{name}: {line}");
            continue;
        };
        started = true;
        if echo == Echo::EventsAsJson {
            let mut value = serde_json::to_value(&event).unwrap_or_default();
            value["host"] = serde_json::Value::String(name.to_string());
            let _ = writeln!(out.lock(), "{value}");
        } else if let Some(text) = event.describe() {
            eprintln!("{name}: {text}");
        }
        if let Event::Result(r) = event {
            result = Some(RemoteOutput::Switched(r));
        }
    }
    (result, started)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn switched(ok: bool) -> RemoteResult {
        Some(RemoteOutput::Switched(Box::new(SwitchResult {
            protocol: PROTOCOL,
            ok,
            ..SwitchResult::default()
        })))
    }

    #[test]
    fn the_result_event_is_kept_and_text_lines_pass() {
        let stdout = format!(
            "plain text\n{}\n",
            Event::Result(Box::new(SwitchResult {
                protocol: PROTOCOL,
                ok: true,
                ..SwitchResult::default()
            }))
            .to_line()
        );
        let (result, started) = forward_stdout("h1", stdout.as_bytes(), Echo::Events);
        assert_eq!((result, started), (switched(true), true));
        assert_eq!(
            forward_stdout("h1", stdout.as_bytes(), Echo::Text),
            (None, false)
        );
    }

    #[test]
    fn captured_output_is_kept_as_json_when_it_is_json() {
        let (kept, _) = forward_stdout("h1", "[1, 2]\n".as_bytes(), Echo::Capture);
        assert_eq!(kept, Some(RemoteOutput::Captured(json!([1, 2]))));
        let (kept, _) = forward_stdout("h1", "a\nb\n".as_bytes(), Echo::Capture);
        assert_eq!(kept, Some(RemoteOutput::Captured(json!("a\nb\n"))));
    }

    #[test]
    fn a_connection_that_drops_after_the_tool_began_says_so() {
        let target: TargetHost = "root@h1".parse().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            r#"echo '{"event":"phase","phase":"starting","steps":1}'; echo 'client_loop: send disconnect: Broken pipe' >&2; exit 255"#,
        ]);
        let e = run_streaming("h1", &target, &mut cmd, None, Echo::Events)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the SSH connection dropped during the switch")
                && e.contains("Broken pipe")
                && e.contains("--target-host root@h1 --list-generations"),
            "{e}"
        );
    }

    #[test]
    fn a_result_of_another_protocol_is_an_error_naming_both() {
        let target: TargetHost = "root@h1".parse().unwrap();
        let old = r#"{"event":"result","ok":true}"#;
        let mut cmd = Command::new("echo");
        cmd.arg(old);
        let e = run_streaming("h1", &target, &mut cmd, None, Echo::Events).unwrap_err();
        assert!(e.to_string().contains("protocol 0, this deployer 1"), "{e}");
    }
}
