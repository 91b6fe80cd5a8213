//! A randomized `kill -9` loop: switches among three 20-process profiles (dependencies,
//! removals, changes) are killed at random instants, at journal records, at named points
//! (the generation link made, the profile link renamed) and while the switch runs a Nix
//! command (the one moving the profile). Each time, the next switch must leave exactly
//! the requested set running, the profile link pointing at it, and no orphan: no process
//! outside the set, no script or Nix child of a killed switch.

use crate::common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Iterations of the loop (each: one killed switch, one switch that must converge).
const ITERATIONS: usize = 100;

/// A small xorshift generator: the seed is printed, `NIXPROC_KILL_LOOP_SEED` replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A: 4 layers of 5. B: layer 0 kept, layer 1 changed, layers 2-3 removed, 10 new on
/// top of layer 1. C: layer 0 changed, layers 1-2 kept, layer 3 removed, 5 new on
/// layer 2.
fn variants() -> Vec<Vec<Proc>> {
    let a = layered("p", 4, 5);
    let layer = |prefix: &str, l: usize| -> Vec<String> {
        (0..5).map(|w| format!("{prefix}{l}x{w}")).collect()
    };
    let on = |name: &str, deps: &[String]| {
        let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
        Proc::new(name, &deps)
    };
    let mut b = first_layer_kept_second_changed(&a);
    for w in 0..5 {
        b.push(on(&format!("q0x{w}"), &layer("p", 1)));
    }
    for w in 0..5 {
        b.push(on(&format!("q1x{w}"), &layer("q", 0)));
    }
    let mut c: Vec<Proc> = Vec::new();
    for p in &a {
        if p.name.starts_with("p0") {
            c.push(p.clone().version(3));
        } else if !p.name.starts_with("p3") {
            c.push(p.clone());
        }
    }
    for w in 0..5 {
        c.push(on(&format!("r0x{w}"), &layer("p", 2)));
    }
    for v in [&a, &b, &c] {
        assert_eq!(v.len(), 20);
    }
    vec![a, b, c]
}

/// Adds a profile directory to the store once, so no switch of the loop copies it.
fn store(dir: &Path) -> PathBuf {
    let out = Command::new("nix-store")
        .arg("--add")
        .arg(dir)
        .output()
        .unwrap();
    assert_succeeded(&out);
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Live processes (other than the sandbox's tagged ones) whose command line mentions
/// one of `needles`: scripts or Nix commands of a killed switch.
fn strays(needles: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for needle in needles {
        for pid in common::pids_with_cmdline(needle) {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            out.push(format!("{pid}: {cmd}"));
        }
    }
    out
}

/// Children of `pid` running a Nix command.
fn nix_children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let ppid = stat[close + 1..].split_whitespace().nth(1);
        if comm.starts_with("nix-") && ppid == Some(pid.to_string().as_str()) {
            out.push(child);
        }
    }
    out
}

/// What diverges from "exactly `wanted` runs from `path`", empty when nothing does.
fn divergence(sb: &Sandbox, all: &[String], wanted: &[Proc], path: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let want = names(wanted);
    let running = sb.running(all);
    if running.iter().collect::<std::collections::BTreeSet<_>>()
        != want.iter().collect::<std::collections::BTreeSet<_>>()
    {
        let missing: Vec<_> = want.iter().filter(|n| !running.contains(n)).collect();
        let extra: Vec<_> = running.iter().filter(|n| !want.contains(n)).collect();
        found.push(format!("missing {missing:?}, extra {extra:?}"));
    }
    let tagged = sb.leftovers().len();
    if tagged != want.len() {
        found.push(format!(
            "{tagged} test processes alive for {} wanted",
            want.len()
        ));
    }
    if sb.deployed().as_deref() != Some(path) {
        found.push(format!(
            "profile link at {:?}, wanted {}",
            sb.deployed(),
            path.display()
        ));
    }
    found
}

#[test]
fn kill_9_at_random_instants_always_converges() {
    let sb = Sandbox::new();
    let vs = variants();
    let paths: Vec<PathBuf> = ["va", "vb", "vc"]
        .iter()
        .zip(&vs)
        .map(|(n, v)| store(&sb.profile(n, v)))
        .collect();
    let mut all: Vec<String> = vs.iter().flat_map(|v| names(v)).collect();
    all.sort();
    all.dedup();
    let mut needles: Vec<String> = paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    needles.push(sb.profile_link().to_string_lossy().into_owned());

    let seed = std::env::var("NIXPROC_KILL_LOOP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("kill loop seed {seed} (NIXPROC_KILL_LOOP_SEED replays it)");
    let mut rng = Rng(seed);

    let switch_to = |path: &Path| sb.switch(&["--jobs", "20", path.to_str().unwrap()]);
    // A first deployment, and the time an ordinary switch takes (to aim random kills).
    assert_succeeded(&switch_to(&paths[0]));
    let t = Instant::now();
    assert_succeeded(&switch_to(&paths[1]));
    let typical = t.elapsed();
    let mut current = 1;

    let mut divergences = 0;
    let mut killed = 0;
    let started = Instant::now();
    for i in 0..ITERATIONS {
        let target = (current + 1 + rng.below(2) as usize) % 3;
        let mut cmd = sb.switch_cmd();
        cmd.args(["--jobs", "20"])
            .arg(&paths[target])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let how = match rng.below(10) {
            0..=2 => {
                let k = 1 + rng.below(45);
                cmd.env("NIXPROC_TEST_KILL_AT_RECORD", k.to_string());
                format!("at record {k}")
            }
            3 => {
                cmd.env("NIXPROC_TEST_KILL_AT", "profile-renamed");
                "after the profile rename".to_string()
            }
            4 => {
                cmd.env("NIXPROC_TEST_KILL_AT", "generation-linked");
                "after the generation link".to_string()
            }
            5 | 6 => "while a Nix command runs".to_string(),
            _ => {
                let ms = rng.below(typical.as_millis() as u64 * 12 / 10 + 1);
                format!("after {ms} ms")
            }
        };
        let mut child = cmd.spawn().unwrap();
        if let Some(ms) = how
            .strip_prefix("after ")
            .and_then(|r| r.strip_suffix(" ms"))
        {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
            let _ = child.kill();
        } else if how.starts_with("while") {
            // The Nix command of a switch to a store path is the one moving the profile.
            let deadline = Instant::now() + typical * 3;
            while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
                if !nix_children(child.id()).is_empty() {
                    let _ = child.kill();
                    break;
                }
            }
        }
        let status = child.wait().unwrap();
        if status.signal() == Some(9) {
            killed += 1;
        }
        // The next run asks for some variant and must converge to it.
        let requested = rng.below(3) as usize;
        let out = switch_to(&paths[requested]);
        let mut found = Vec::new();
        if !out.status.success() {
            found.push(format!(
                "the next switch failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        found.extend(divergence(&sb, &all, &vs[requested], &paths[requested]));
        let stray = strays(&needles);
        if !stray.is_empty() {
            found.push(format!("children of a switch still alive: {stray:?}"));
        }
        if !found.is_empty() {
            divergences += 1;
            eprintln!(
                "iteration {i}: kill {how} of a switch to {target}, then to {requested}: {found:?}"
            );
            // Start the next iteration from a known state.
            let _ = sb.switch(&["--undeploy"]);
            for pid in sb.leftovers() {
                // SAFETY: signalling a process of this test (it carries the sandbox tag).
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
            assert_succeeded(&switch_to(&paths[requested]));
        }
        current = requested;
    }
    eprintln!(
        "kill loop: {ITERATIONS} iterations ({killed} switches killed) in {:.0?}, {divergences} divergences",
        started.elapsed()
    );
    assert_eq!(divergences, 0, "see the iterations printed above");
    sb.undeploy_leaving_nothing();
}
