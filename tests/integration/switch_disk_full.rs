//! A full disk in the middle of a switch: the directory of the profile link, where the
//! tool keeps its journal, is a tiny tmpfs, filled while the switch is paused (a test
//! hook stops it after a journal record). The switch
//! rolls back from memory, the previous deployment runs again, and the error says the
//! disk is full and where, with the OS error once.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// A tmpfs of `size` at `dir`, its root of root's and writable by nobody else.
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .unwrap();
        assert_succeeded(&out);
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }

    /// Writes a file until the filesystem has no space left.
    fn fill(&self) -> PathBuf {
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if f.write_all(&chunk).and_then(|_| f.sync_data()).is_err() {
                break;
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// Whether process `pid` is stopped (state T in /proc/PID/stat).
fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .and_then(|i| s[i + 1..].trim_start().chars().next())
        })
        == Some('T')
}

#[test]
fn a_disk_filling_mid_switch_rolls_back_and_names_the_disk() {
    let sb = Sandbox::new();
    let tmpfs = Tmpfs::mount(sb.profile_link().parent().unwrap(), "2m");
    // v1: 4 layers of 5. v2: layers 0-2 changed, layer 3 removed, 5 new: 20 stops, so
    // the journal outgrows its last tmpfs page (4 KiB) during the stops.
    let v1 = layered("p", 4, 5);
    let mut v2: Vec<Proc> = v1
        .iter()
        .filter(|p| !p.name.starts_with("p3"))
        .map(|p| p.clone().version(2))
        .collect();
    let layer2: Vec<String> = (0..5).map(|w| format!("p2x{w}")).collect();
    let layer2: Vec<&str> = layer2.iter().map(String::as_str).collect();
    for w in 0..5 {
        v2.push(Proc::new(&format!("n0x{w}"), &layer2));
    }
    let p1 = sb.profile("v1", &v1);
    let p2 = sb.profile("v2", &v2);
    assert_succeeded(&sb.switch(&["--jobs", "1", p1.to_str().unwrap()]));
    let gen1 = sb.deployed().unwrap();

    // One job at a time: pause after the first stop (begin, launched, finished), fill
    // the disk, let it go on.
    let child = sb
        .switch_cmd()
        .env("NIXPROC_TEST_STOP_AT_RECORD", "3")
        .args(["--jobs", "1"])
        .arg(&p2)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        common::wait_until(Duration::from_secs(30), || stopped(child.id())),
        "the switch never reached the pause"
    );
    let filler = tmpfs.fill();
    // SAFETY: continuing our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGCONT);
    }
    let out = child.wait_with_output().unwrap();
    let err = assert_failed(&out);
    eprintln!("{err}");
    let journal = sb.tool_state().join("journal.jsonl");
    assert!(
        err.contains("journal could not be written")
            && err.contains(&format!("writing {}", journal.display()))
            && err.contains(&format!(
                "the disk holding {} is full",
                sb.tool_state().display()
            )),
        "{err}"
    );
    assert_eq!(err.matches("No space left on device").count(), 1, "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert!(
        !err.contains("warning: some rollback steps failed"),
        "{err}"
    );
    assert_eq!(sb.deployed().unwrap(), gen1, "profile moved");
    let all: Vec<String> = names(&v1).into_iter().chain(names(&v2)).collect();
    let mut want = names(&v1);
    want.sort();
    let mut running = sb.running(&all);
    running.sort();
    running.dedup();
    assert_eq!(running, want, "events {:?}", sb.events());
    // Some processes had been stopped, and were started again with their v1 scripts.
    assert!(sb.events().iter().any(|e| e.starts_with("stop ")));
    assert!(sb
        .events()
        .iter()
        .any(|e| e.ends_with(" 1") && e.starts_with("start ")));
    // The journal is gone: nothing for the next run to recover.
    assert!(!journal.exists());

    // Space again: the same switch goes through.
    std::fs::remove_file(filler).unwrap();
    let text = assert_succeeded(&sb.switch(&[p2.to_str().unwrap()]));
    assert!(!text.contains("interrupted"), "{text}");
    let mut want = names(&v2);
    want.sort();
    let mut running = sb.running(&all);
    running.sort();
    running.dedup();
    assert_eq!(running, want);
    sb.undeploy_leaving_nothing();
    drop(tmpfs);
}
