//! The switch and runactivity tests' sandbox: profiles made of small bash init.d scripts
//! that start real long-running processes (each a [`Proc`]), a temporary directory with
//! its own state directory and profile link, and on drop the end of every process the
//! sandbox started.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One process of a test profile.
#[derive(Clone, Debug)]
pub struct Proc {
    pub name: String,
    pub deps: Vec<String>,
    /// Changing it changes the script text (an upgrade).
    pub version: u32,
    /// Write a manifest (otherwise the S-number alone orders it).
    pub manifest: bool,
    /// Credential files: (kind "groups"/"users", name, text).
    pub credentials: Vec<(String, String, String)>,
}

impl Proc {
    pub fn new(name: &str, deps: &[&str]) -> Proc {
        Proc {
            name: name.into(),
            deps: deps.iter().map(|s| s.to_string()).collect(),
            version: 1,
            manifest: true,
            credentials: Vec::new(),
        }
    }
    pub fn version(mut self, v: u32) -> Proc {
        self.version = v;
        self
    }
    pub fn no_manifest(mut self) -> Proc {
        self.manifest = false;
        self
    }
    pub fn credential(mut self, kind: &str, name: &str, text: &str) -> Proc {
        self.credentials
            .push((kind.into(), name.into(), text.into()));
        self
    }
}

/// A sandbox: temp dir with run dir, state dir, profile link; kills leftovers on drop.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub tag: String,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("nixproc-switch-test")
            .tempdir()
            .unwrap();
        let tag = format!(
            "nixproc-test-proc-{}",
            dir.path().file_name().unwrap().to_string_lossy()
        );
        let s = Sandbox { dir, tag };
        fs::create_dir_all(s.run()).unwrap();
        s
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Where the test processes keep PID files and the event log.
    pub fn run(&self) -> PathBuf {
        self.path().join("run")
    }
    pub fn profile_link(&self) -> PathBuf {
        self.path().join("profiles/processes")
    }
    pub fn state(&self) -> PathBuf {
        self.path().join("state")
    }
    /// The tool's own directory of the profile link, next to it.
    pub fn tool_state(&self) -> PathBuf {
        self.path().join("profiles/.processes.nixproc-sysvinit")
    }

    /// After `out`, a runactivity `start` that met the lock of `switch` (from `v1` to
    /// `v2` of [`Sandbox::b_to_c_profiles`]): the switch succeeded, runactivity said it
    /// waited for it and then started what the switch deployed (`a`, `c`), never the
    /// removed `b`.
    pub fn assert_waited_for(&self, switch: &mut std::process::Child, out: &Output) {
        assert!(switch.wait().unwrap().success());
        let text = super::assert_succeeded(out);
        let waiting = format!(
            "waiting for nixproc-sysvinit-switch (pid {}) to finish",
            switch.id()
        );
        super::assert_contains(&text, &waiting);
        assert!(self.pid("a").is_some() && self.pid("c").is_some());
        assert!(
            self.pid("b").is_none(),
            "runactivity restarted the removed b"
        );
    }

    /// The profiles `v1` (`a`, and `b` on `a`) and `v2` (`a`, and `c` on `a`): an upgrade
    /// that keeps `a`, removes `b` and adds `c`.
    pub fn b_to_c_profiles(&self) -> (PathBuf, PathBuf) {
        let v1 = self.profile("v1", &[Proc::new("a", &[]), Proc::new("b", &["a"])]);
        let v2 = self.profile("v2", &[Proc::new("a", &[]), Proc::new("c", &["a"])]);
        (v1, v2)
    }

    /// Writes a profile directory `NAME` (a valid store path name) holding `procs`.
    pub fn profile(&self, name: &str, procs: &[Proc]) -> PathBuf {
        let root = self.path().join(name);
        let _ = fs::remove_dir_all(&root);
        let rc = root.join("etc/rc.d");
        fs::create_dir_all(rc.join("init.d")).unwrap();
        fs::create_dir_all(rc.join("rc3.d")).unwrap();
        let mut seq: BTreeMap<String, u32> = BTreeMap::new();
        // Sequence = longest dependency chain + 1, like the renderer.
        let by_name: BTreeMap<&str, &Proc> = procs.iter().map(|p| (p.name.as_str(), p)).collect();
        fn depth(n: &str, by: &BTreeMap<&str, &Proc>, memo: &mut BTreeMap<String, u32>) -> u32 {
            if let Some(d) = memo.get(n) {
                return *d;
            }
            memo.insert(n.to_string(), 1); // a cycle stops here
            let d = by
                .get(n)
                .map(|p| p.deps.iter().map(|d| depth(d, by, memo)).max().unwrap_or(0) + 1)
                .unwrap_or(1);
            memo.insert(n.to_string(), d);
            d
        }
        for p in procs {
            depth(&p.name, &by_name, &mut seq);
        }
        for p in procs {
            let script = rc.join("init.d").join(&p.name);
            fs::write(&script, self.script(p)).unwrap();
            fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
            symlink(
                format!("../init.d/{}", p.name),
                rc.join("rc3.d")
                    .join(format!("S{:02}{}", seq[&p.name], p.name)),
            )
            .unwrap();
            if p.manifest {
                let m = root.join("share/nixproc-sysvinit/processes");
                fs::create_dir_all(&m).unwrap();
                let json = serde_json::json!({"name": p.name, "sequence": seq[&p.name],
                    "dependencies": p.deps, "runlevels": [3]});
                fs::write(m.join(format!("{}.json", p.name)), json.to_string()).unwrap();
            }
            for (kind, name, text) in &p.credentials {
                let d = root.join("dysnomia-support").join(kind);
                fs::create_dir_all(&d).unwrap();
                fs::write(d.join(name), text).unwrap();
            }
        }
        root
    }

    /// The bash init.d script of a test process: start checks that every dependency is
    /// running, fails when `run/fail-NAME` exists, waits `run/slow-NAME` seconds when that
    /// exists, starts a real `sleep` with a PID file and logs events to `run/events`.
    fn script(&self, p: &Proc) -> String {
        let run = self.run();
        let deps = p.deps.join(" ");
        format!(
            r#"#!/bin/bash
# test process {name}, version {version}
NAME={name}
RUN='{run}'
PIDFILE="$RUN/$NAME.pid"
alive() {{ [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null && ! grep -q '^State:.Z' /proc/"$(cat "$1")"/status 2>/dev/null; }}
case "$1" in
  start)
    if alive "$PIDFILE"; then echo "$NAME already running"; exit 0; fi
    for d in {deps}; do
      alive "$RUN/$d.pid" || {{ echo "dependency $d of $NAME is not running"; echo "start-without-$d $NAME" >> "$RUN/events"; exit 1; }}
    done
    if [ -e "$RUN/fail-$NAME" ]; then echo "injected failure of $NAME"; exit 1; fi
    if [ -e "$RUN/slow-$NAME" ]; then sleep "$(cat "$RUN/slow-$NAME")"; fi
    if [ -e "$RUN/delay" ]; then sleep "$(cat "$RUN/delay")"; fi
    (exec -a '{tag}' sleep 100000) </dev/null >/dev/null 2>&1 &
    echo $! > "$PIDFILE"
    # Up = the child has become the tagged sleep (what Sandbox::pid checks), not only forked.
    for _ in $(seq 400); do grep -qa -- '{tag}' /proc/$!/cmdline 2>/dev/null && break; sleep 0.005; done
    echo "start $NAME {version}" >> "$RUN/events"
    echo "started $NAME"
    ;;
  stop)
    if alive "$PIDFILE"; then
      kill "$(cat "$PIDFILE")"
      while alive "$PIDFILE"; do sleep 0.02; done
    fi
    rm -f "$PIDFILE"
    echo "stop $NAME" >> "$RUN/events"
    ;;
  status)
    if alive "$PIDFILE"; then echo "$NAME is running"; exit 0; fi
    if [ -f "$PIDFILE" ]; then exit 1; fi
    echo "$NAME is not running"; exit 3
    ;;
  reload) alive "$PIDFILE" || exit 7; echo "reload $NAME" >> "$RUN/events" ;;
  *) echo "usage: $0 {{start|stop|status|reload}}"; exit 2 ;;
esac
"#,
            name = p.name,
            version = p.version,
            run = run.display(),
            tag = self.tag,
        )
    }

    /// The PID of a running test process, `None` if it is not running.
    pub fn pid(&self, name: &str) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.run().join(format!("{name}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let zombie = status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'));
        let cmd = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        (!zombie && cmd.contains(&self.tag)).then_some(pid)
    }

    /// Names of running processes among `names`.
    pub fn running(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .filter(|n| self.pid(n).is_some())
            .cloned()
            .collect()
    }

    /// Lines of the event log.
    pub fn events(&self) -> Vec<String> {
        fs::read_to_string(self.run().join("events"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
    pub fn clear_events(&self) {
        let _ = fs::remove_file(self.run().join("events"));
    }

    /// A command for the switch tool in this sandbox.
    pub fn switch_cmd(&self) -> Command {
        self.switch_cmd_in(&self.state(), 3)
    }

    /// A command for the switch tool on this sandbox's profile link, with another state
    /// directory or runlevel.
    pub fn switch_cmd_in(&self, state: &Path, runlevel: u8) -> Command {
        let mut c = self.switch_cmd_default_profile(state, runlevel);
        c.arg("-p").arg(self.profile_link());
        c
    }

    /// A command for the switch tool with another state directory or runlevel, leaving
    /// the profile link to the tool's defaults.
    pub fn switch_cmd_default_profile(&self, state: &Path, runlevel: u8) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nixproc-sysvinit-switch"));
        c.env_remove("NIXPROC_PROFILE")
            .env_remove("NIXPROC_PROFILES_DIR")
            .arg("--state-dir")
            .arg(state)
            .arg("--runlevel")
            .arg(runlevel.to_string())
            .env_remove("NIXPROC_PROCESSES")
            .env_remove("NIXPROC_TEST_KILL_AT_RECORD");
        c
    }

    /// Starts the switch tool on `profile` in the background, its errors discarded.
    pub fn spawn_switch(&self, profile: &Path) -> std::process::Child {
        self.switch_cmd()
            .arg(profile)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Waits (up to 5 s) until the switch has begun running `NAME ACTION`, i.e. created
    /// its log; returns whether it did.
    pub fn wait_for_step(&self, name: &str, action: &str) -> bool {
        let log = self.tool_state().join(format!("logs/{name}.{action}.log"));
        super::wait_until(std::time::Duration::from_secs(5), || log.exists())
    }

    /// Runs the switch tool with `args`.
    pub fn switch(&self, args: &[&str]) -> Output {
        self.switch_cmd().args(args).output().unwrap()
    }

    /// The store path the profile link points to.
    pub fn deployed(&self) -> Option<PathBuf> {
        fs::canonicalize(self.profile_link()).ok()
    }

    /// Undeploys with the switch, which must succeed, and checks that no process of this
    /// sandbox is left.
    pub fn undeploy_leaving_nothing(&self) {
        super::assert_succeeded(&self.switch(&["--undeploy"]));
        let left = self.leftovers();
        assert!(
            left.is_empty(),
            "processes left after undeploying: {left:?}"
        );
    }

    /// Processes still alive that carry this sandbox's tag.
    pub fn leftovers(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmd = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmd.contains(&self.tag) {
                let st = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                if !st
                    .lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
                {
                    out.push(pid);
                }
            }
        }
        out
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for pid in self.leftovers() {
            // SAFETY: signalling a process this test started (it carries our tag).
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

/// Of a [`layered`] graph with prefix `p`: layer 0 as it is and layer 1 at version 2;
/// the other layers are left out.
pub fn first_layer_kept_second_changed(procs: &[Proc]) -> Vec<Proc> {
    let mut out = Vec::new();
    for p in procs {
        if p.name.starts_with("p0") {
            out.push(p.clone());
        } else if p.name.starts_with("p1") {
            out.push(p.clone().version(2));
        }
    }
    out
}

/// A chain/layer graph: `layers` layers of `width` processes, each depending on every
/// process of the previous layer.
pub fn layered(prefix: &str, layers: usize, width: usize) -> Vec<Proc> {
    let mut out = Vec::new();
    for l in 0..layers {
        for w in 0..width {
            let deps: Vec<String> = if l == 0 {
                vec![]
            } else {
                (0..width)
                    .map(|x| format!("{prefix}{}x{x}", l - 1))
                    .collect()
            };
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            out.push(Proc::new(&format!("{prefix}{l}x{w}"), &deps));
        }
    }
    out
}

pub fn names(procs: &[Proc]) -> Vec<String> {
    procs.iter().map(|p| p.name.clone()).collect()
}

/// Position of an event line.
pub fn event_index(events: &[String], line: &str) -> usize {
    events
        .iter()
        .position(|e| e == line || e.starts_with(&format!("{line} ")))
        .unwrap_or_else(|| panic!("event `{line}` missing in {events:?}"))
}
