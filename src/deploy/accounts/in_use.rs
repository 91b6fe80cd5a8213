//! Which running processes use an account (a scan of `/proc`).

use std::fs;

use super::Kind;

/// Running processes that use account `id` of `kind`: as their real, effective, saved
/// or filesystem uid (users), or gid or supplementary group (groups); zombies do not
/// count. Each as `PID (COMMAND)`.
pub(super) fn processes_using(kind: Kind, id: u32) -> Vec<String> {
    let fields: &[&str] = match kind {
        Kind::User => &["Uid:"],
        Kind::Group => &["Gid:", "Groups:"],
    };
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
        // A zombie runs nothing any more (and userdel ignores it too).
        let dead = status.lines().any(|l| {
            l.strip_prefix("State:")
                .is_some_and(|st| matches!(st.trim_start().chars().next(), Some('Z' | 'X')))
        });
        if dead {
            continue;
        }
        let uses = status.lines().any(|line| {
            fields.iter().any(|f| {
                line.strip_prefix(f).is_some_and(|ids| {
                    ids.split_whitespace()
                        .any(|v| v.parse::<u32>().ok() == Some(id))
                })
            })
        });
        if uses {
            let command = status
                .lines()
                .find_map(|l| l.strip_prefix("Name:"))
                .map(str::trim)
                .unwrap_or("?");
            found.push(format!("{pid} ({command})"));
        }
    }
    found.sort();
    found
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
