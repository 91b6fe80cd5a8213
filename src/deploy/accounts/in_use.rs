//! Which running processes use an account (a scan of `/proc`).

use std::collections::BTreeSet;
use std::fs;

use super::Kind;

/// One live process (not a zombie): its PID and the text of `/proc/PID/status`.
struct Live {
    /// The PID, as `/proc` names it.
    pid: String,
    /// Its status file.
    status: String,
}

impl Live {
    /// The ids of `kind` the process has: its real, effective, saved and filesystem
    /// uids (users), or those gids and its supplementary groups (groups).
    fn ids(&self, kind: Kind) -> impl Iterator<Item = u32> + '_ {
        let fields: &'static [&'static str] = match kind {
            Kind::User => &["Uid:"],
            Kind::Group => &["Gid:", "Groups:"],
        };
        self.status.lines().flat_map(move |line| {
            fields
                .iter()
                .filter_map(move |f| line.strip_prefix(f))
                .flat_map(|ids| ids.split_whitespace().filter_map(|v| v.parse().ok()))
        })
    }

    /// `PID (COMMAND)`.
    fn shown(&self) -> String {
        let command = self
            .status
            .lines()
            .find_map(|l| l.strip_prefix("Name:"))
            .map(str::trim)
            .unwrap_or("?");
        format!("{} ({command})", self.pid)
    }
}

/// The processes running now; zombies do not count (they run nothing any more, and
/// userdel ignores them too).
fn live_processes() -> Vec<Live> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(status) = fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let dead = status.lines().any(|l| {
            l.strip_prefix("State:")
                .is_some_and(|st| matches!(st.trim_start().chars().next(), Some('Z' | 'X')))
        });
        if !dead {
            found.push(Live {
                pid: pid.to_string(),
                status,
            });
        }
    }
    found
}

/// Running processes that use account `id` of `kind`: as their real, effective, saved
/// or filesystem uid (users), or gid or supplementary group (groups); zombies do not
/// count. Each as `PID (COMMAND)`.
pub(super) fn processes_using(kind: Kind, id: u32) -> Vec<String> {
    let mut found: Vec<String> = live_processes()
        .iter()
        .filter(|p| p.ids(kind).any(|i| i == id))
        .map(Live::shown)
        .collect();
    found.sort();
    found
}

/// Every id of `kind` some running process uses (as [`processes_using`] counts them).
pub(super) fn ids_in_use(kind: Kind) -> BTreeSet<u32> {
    live_processes().iter().flat_map(|p| p.ids(kind)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::safe_dir::euid;
    use std::process::Command;

    #[test]
    fn processes_using_finds_this_process() {
        let me = std::process::id().to_string();
        assert!(processes_using(Kind::User, euid())
            .iter()
            .any(|p| p.starts_with(&format!("{me} ("))));
        // SAFETY: getegid has no preconditions.
        let gid = unsafe { libc::getegid() };
        assert!(processes_using(Kind::Group, gid)
            .iter()
            .any(|p| p.starts_with(&format!("{me} ("))));
        assert!(ids_in_use(Kind::User).contains(&euid()));
        assert!(ids_in_use(Kind::Group).contains(&gid));
    }

    #[test]
    fn zombies_use_no_account() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        let zombie = || {
            fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|st| {
                st.lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
            })
        };
        for _ in 0..500 {
            if zombie() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(zombie(), "the child never became a zombie");
        assert!(!processes_using(Kind::User, euid())
            .iter()
            .any(|p| p.starts_with(&format!("{pid} ("))));
        child.wait().unwrap();
    }
}
