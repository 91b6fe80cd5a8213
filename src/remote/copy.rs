//! Closures between this machine's store and a host's, in Nix's own export format over
//! the host's SSH connection: `nix-store --export` on one side piped into
//! `nix-store --import` on the other, for the paths the receiving store lacks, in
//! dependency order.
//!
//! Not `nix-copy-closure`: Nix 2.8 starts its `ssh` in the mount namespace it was
//! started in, which takes that `ssh` out of a chroot (a container, a test machine) and
//! away from the keys and `known_hosts` the user named.

use std::io::Write;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::thread::JoinHandle;

use super::ssh::{check, classify, run, Connection};
use super::RemoteError;
use crate::deploy::model::nix::nix_command;

impl Connection {
    /// Copies `paths` and their closures to the host. With `use_substitutes`, the host
    /// first tries to fetch what it lacks from its own substituters.
    pub fn copy_closure(&self, paths: &[&str], use_substitutes: bool) -> Result<(), RemoteError> {
        let closure = self.local_lines(&["nix-store", "--query", "--requisites"], paths)?;
        let mut missing = self.remote_invalid(&closure)?;
        if use_substitutes && !missing.is_empty() {
            // What cannot be substituted is sent below.
            let _ = self.remote_with_input(&["xargs", "-r", "nix-store", "--realise"], &missing);
            missing = self.remote_invalid(&closure)?;
        }
        if missing.is_empty() {
            return Ok(());
        }
        let mut export = nix_command("nix-store", &[]);
        export.arg("--export").args(&missing);
        let import = self.command(&["nix-store", "--import"]);
        self.pipe(export, import, self.stdin_prefix(), "copying the closure")
    }

    /// Whether the host has every one of `paths` (then their closures too: Nix keeps a
    /// valid path's references valid). One command, which also checks that the host can
    /// be reached and has Nix, as [`Connection::probe`] does.
    pub fn has_paths(&self, paths: &[&str]) -> Result<bool, RemoteError> {
        let mut argv = vec!["nix-store", "--check-validity", "--print-invalid"];
        argv.extend(paths);
        let invalid = self.output(&argv, "checking for Nix")?;
        Ok(invalid.trim().is_empty())
    }

    /// Copies `paths` and their closures from the host into this machine's store.
    pub fn copy_closure_here(&self, paths: &[&str]) -> Result<(), RemoteError> {
        let step = "copying the build result back";
        let mut query = vec!["nix-store", "--query", "--requisites"];
        query.extend(paths);
        let closure: Vec<String> = self
            .output(&query, step)?
            .lines()
            .map(str::to_string)
            .collect();
        let invalid = ["nix-store", "--check-validity", "--print-invalid"];
        let mut missing = self.local_lines(&invalid, &strs(&closure))?;
        missing.retain(|p| !p.is_empty());
        if missing.is_empty() {
            return Ok(());
        }
        let mut argv = vec!["nix-store", "--export"];
        argv.extend(strs(&missing));
        let export = self.command(&argv);
        let mut import = nix_command("nix-store", &[]);
        import.arg("--import");
        self.pipe(export, import, None, step)
    }

    /// The paths of `closure` the host does not have, in the order given. The paths
    /// travel on standard input (a command line has a length limit).
    fn remote_invalid(&self, closure: &[String]) -> Result<Vec<String>, RemoteError> {
        let argv = [
            "xargs",
            "-r",
            "nix-store",
            "--check-validity",
            "--print-invalid",
        ];
        let output = self.remote_with_input(&argv, closure)?;
        check(self.target(), "comparing the stores", &output)?;
        let invalid: std::collections::BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        Ok(closure
            .iter()
            .filter(|p| invalid.contains(*p))
            .cloned()
            .collect())
    }

    /// Runs `argv` on the host with `lines` on its standard input.
    fn remote_with_input(&self, argv: &[&str], lines: &[String]) -> Result<Output, RemoteError> {
        let text = lines.join("\n") + "\n";
        self.run_with_input(&mut self.command(argv), text.as_bytes())
    }

    /// Starts `cmd` (running `program`) with `stdin` and `stdout` as given and its error
    /// output piped, to be read with its status.
    fn start(
        &self,
        cmd: &mut Command,
        program: &'static str,
        stdin: Stdio,
        stdout: Stdio,
    ) -> Result<Child, RemoteError> {
        cmd.stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(self.spawn_error(program))
    }

    /// Turns an error starting or waiting for `program` into this host's error.
    fn spawn_error(
        &self,
        program: &'static str,
    ) -> impl Fn(std::io::Error) -> RemoteError + Copy + '_ {
        move |error| RemoteError::Spawn {
            host: self.target().to_string(),
            program: program.into(),
            error,
        }
    }

    /// The lines a local Nix command prints for `argv` followed by `paths`.
    fn local_lines(&self, argv: &[&str], paths: &[&str]) -> Result<Vec<String>, RemoteError> {
        let mut cmd = nix_command(argv[0], &[]);
        cmd.args(&argv[1..]).args(paths);
        let output = run(self.target(), argv[0], &mut cmd)?;
        if !output.status.success() {
            return Err(RemoteError::Failed {
                host: "localhost".into(),
                step: argv.join(" "),
                detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// Runs `from | to`, `to` reading `prefix` first when given (the sudo password, as
    /// `to` is the host's); a failure of either side is classified by what the two said.
    fn pipe(
        &self,
        mut from: Command,
        mut to: Command,
        prefix: Option<Vec<u8>>,
        step: &str,
    ) -> Result<(), RemoteError> {
        let spawn_error = self.spawn_error("nix-store");
        let mut source = self.start(&mut from, "nix-store", Stdio::null(), Stdio::piped())?;
        let stream = source.stdout.take().expect("stdout was piped");
        let sink = self.start_sink(&mut to, stream, prefix);
        // The command keeps its copy of the pipe's read end: without this drop, a sink
        // that ends early would leave the source blocked on a pipe no one reads.
        drop(to);
        let (sink, feeder) = sink?;
        let sink = sink.wait_with_output().map_err(spawn_error)?;
        if !sink.status.success() {
            let _ = source.kill();
        }
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }
        let source = source.wait_with_output().map_err(spawn_error)?;
        if source.status.success() && sink.status.success() {
            return Ok(());
        }
        let said = format!(
            "{}\n{}",
            String::from_utf8_lossy(&source.stderr).trim(),
            String::from_utf8_lossy(&sink.stderr).trim()
        );
        let status = if sink.status.success() {
            source.status
        } else {
            sink.status
        };
        Err(classify(self.target(), step, &status.to_string(), &said))
    }

    /// Starts `to` reading `stream`; with a `prefix`, a thread feeds it the prefix (then
    /// wipes it) and the stream after it.
    fn start_sink(
        &self,
        to: &mut Command,
        mut stream: ChildStdout,
        prefix: Option<Vec<u8>>,
    ) -> Result<(Child, Option<JoinHandle<()>>), RemoteError> {
        let Some(mut prefix) = prefix else {
            let sink = self.start(to, "nix-store", stream.into(), Stdio::null())?;
            return Ok((sink, None));
        };
        let mut sink = self.start(to, "nix-store", Stdio::piped(), Stdio::null())?;
        let mut stdin = sink.stdin.take().expect("stdin was piped");
        let feeder = std::thread::spawn(move || {
            let fed = stdin.write_all(&prefix);
            prefix.iter_mut().for_each(|b| *b = 0);
            if fed.is_ok() {
                let _ = std::io::copy(&mut stream, &mut stdin);
            }
        });
        Ok((sink, Some(feeder)))
    }
}

/// `strings` as `&str`s.
fn strs(strings: &[String]) -> Vec<&str> {
    strings.iter().map(String::as_str).collect()
}
