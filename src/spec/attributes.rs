//! Attribute tables: which keys a process description, its `config`, `readiness`,
//! `instructions` and `credentials` may have, and the privileged groups together with
//! the rule that tells when a credential entry would make its account root-equivalent.

use std::collections::BTreeMap;

/// Per-process attributes whose value is a list of other processes (their derivations):
/// the evaluator passes on each one's names and sequence, not its store path.
pub const PROCESS_LIST_ATTRIBUTES: &[&str] = &["dependencies"];

/// Per-process attributes the framework understands.
pub const PROCESS_ATTRIBUTES: &[&str] = &[
    "name",
    "instanceName",
    "description",
    "activities",
    "instructions",
    "process",
    "args",
    "processIsDaemon",
    "environment",
    "dependencies",
    "user",
    "credentials",
    "umask",
    "nice",
    "directory",
    "path",
    "paths",
    "initialize",
    "removeActivities",
    "runlevels",
    "defaultStart",
    "defaultStop",
    "pidFile",
    "reloadSignal",
    "globalInstructions",
    "enableDaemonOutputLogging",
    "readiness",
    "allowPrivilegedCredentials",
    "respawn",
    "logRotate",
    "limits",
    "logFiles",
    "secrets",
    "config",
];

/// Groups that give their members administrator rights or root-equivalent access: a
/// credential may put a user in one of them (or create one) only with
/// `allowPrivilegedCredentials = true` on the process.
///
/// - `root`: gid 0, the group of root's files;
/// - `wheel`, `sudo`, `admin`: administrators (`sudo`, `su`, polkit);
/// - `adm`, `systemd-journal`: every system log;
/// - `shadow`: the password hashes of `/etc/shadow`;
/// - `disk`, `kmem`: raw disks and kernel memory, hence every file;
/// - `docker`, `lxd`, `incus-admin`, `libvirt`: container and VM managers that start
///   root processes on request;
/// - `kvm`: direct access to the hypervisor device;
/// - `staff`: writes `/usr/local`, which comes first in root's `PATH` on Debian.
pub const PRIVILEGED_GROUPS: &[&str] = &[
    "root",
    "wheel",
    "sudo",
    "admin",
    "adm",
    "systemd-journal",
    "shadow",
    "disk",
    "kmem",
    "docker",
    "lxd",
    "incus-admin",
    "libvirt",
    "kvm",
    "staff",
];

/// Why a credential entry would give its account root-equivalent rights, if it would:
/// the key at fault (`None` for the entry itself, a group named like a privileged
/// one) and what it does. `kind` is `groups` or `users`; `group_name` resolves a numeric
/// group id to its name where that is known (at deploy time), else returns `None`.
pub fn privileged_credential(
    kind: &str,
    name: &str,
    fields: &BTreeMap<String, String>,
    group_name: &dyn Fn(&str) -> Option<String>,
) -> Option<(Option<&'static str>, String)> {
    if kind == "groups" {
        privileged_group_entry(name, fields)
    } else {
        privileged_user_entry(name, fields, group_name)
    }
}

/// Whether a uid or gid text is 0 (surrounding blanks ignored).
fn is_root_id(id: &str) -> bool {
    id.trim().parse::<u64>() == Ok(0)
}

/// The privileged group a user entry's group reference `group` names, if it names one:
/// `root` for gid 0, else the group's name (a numeric gid resolved by `group_name`, and
/// not privileged when it cannot be resolved) when it is in [`PRIVILEGED_GROUPS`].
fn privileged_group(group: &str, group_name: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let group = group.trim();
    if is_root_id(group) {
        return Some("root".into());
    }
    let resolved = if group.chars().all(|c| c.is_ascii_digit()) {
        group_name(group)?
    } else {
        group.to_string()
    };
    PRIVILEGED_GROUPS
        .contains(&resolved.as_str())
        .then_some(resolved)
}

/// [`privileged_credential`] of the group entry `name`: gid 0, or a privileged name.
fn privileged_group_entry(
    name: &str,
    fields: &BTreeMap<String, String>,
) -> Option<(Option<&'static str>, String)> {
    if fields.get("gid").is_some_and(|g| is_root_id(g)) {
        return Some((
            Some("gid"),
            format!("gives group '{name}' gid 0 (root's group)"),
        ));
    }
    if PRIVILEGED_GROUPS.contains(&name) {
        return Some((None, format!("creates the privileged group '{name}'")));
    }
    None
}

/// [`privileged_credential`] of the user entry `name`: uid 0, an own group of a
/// privileged name, or a privileged primary or extra group.
fn privileged_user_entry(
    name: &str,
    fields: &BTreeMap<String, String>,
    group_name: &dyn Fn(&str) -> Option<String>,
) -> Option<(Option<&'static str>, String)> {
    if fields.get("uid").is_some_and(|u| is_root_id(u)) {
        return Some((Some("uid"), format!("gives user '{name}' uid 0 (root)")));
    }
    if !fields.contains_key("group") && PRIVILEGED_GROUPS.contains(&name) {
        // `useradd --user-group` would create a group of the user's name.
        return Some((
            None,
            format!("creates the privileged group '{name}' as the own group of user '{name}'"),
        ));
    }
    if let Some(g) = fields
        .get("group")
        .and_then(|g| privileged_group(g, group_name))
    {
        return Some((
            Some("group"),
            format!("makes the privileged group '{g}' the primary group of user '{name}'"),
        ));
    }
    let extra = fields.get("extraGroups").map(String::as_str).unwrap_or("");
    extra
        .split(',')
        .filter(|g| !g.trim().is_empty())
        .find_map(|g| privileged_group(g, group_name))
        .map(|g| {
            (
                Some("extraGroups"),
                format!("puts user '{name}' in the privileged group '{g}'"),
            )
        })
}

/// Global settings of a `createSystemVInitScript` composition.
pub const CONFIG_ATTRIBUTES: &[&str] = &[
    "runtimeDir",
    "tmpDir",
    "logDir",
    "forceDisableUserChange",
    "initialInstructions",
    "startDaemon",
    "startProcessAsDaemon",
    "stopDaemon",
    "reloadDaemon",
    "evaluateCommand",
    "statusCommand",
    "restartActivity",
    "supportedRunLevels",
    "minSequence",
    "maxSequence",
    "shell",
    "logRotate",
];

/// Keys `respawn` may have.
pub const RESPAWN_ATTRIBUTES: &[&str] = &["delay", "attempts", "window", "settle"];
/// Keys `logRotate` may have.
pub const LOG_ROTATE_ATTRIBUTES: &[&str] = &["maxSize", "keep"];
/// The limits `limits` may set: resource limits (prlimit's names) and cgroup limits.
pub const LIMIT_NAMES: &[&str] = &[
    "as",
    "core",
    "cpu",
    "cpuWeight",
    "data",
    "fsize",
    "locks",
    "memlock",
    "memory",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "pids",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Keys `readiness` may have.
pub const READINESS_ATTRIBUTES: &[&str] = &["tcpPort", "tcpHost", "command", "timeout"];
/// Keys an entry of `instructions` may have.
pub const INSTRUCTION_ATTRIBUTES: &[&str] = &["activity", "instruction"];
/// Keys `credentials` may have.
pub const CREDENTIAL_KINDS: &[&str] = &["groups", "users"];
/// Keys a group entry of `credentials.groups` may have.
pub const GROUP_KEYS: &[&str] = &["gid"];
/// Keys a user entry of `credentials.users` may have.
pub const USER_KEYS: &[&str] = &[
    "group",
    "extraGroups",
    "description",
    "homeDir",
    "createHomeDir",
    "shell",
    "uid",
];
