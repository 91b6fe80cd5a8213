//! Where a running service's processes are tracked: the service id a script passes to
//! the init-functions library (`-s KEY/NAME`, recorded in the manifest) and the cgroups
//! it stands for. The library (`nix/init-functions/08-service.sh`) uses the same rule;
//! this side is for the tools that look at running services (`runactivity status
//! --json`) and for tests.

use std::path::{Path, PathBuf};

/// The directory under a cgroup hierarchy's root that holds every service's cgroup.
pub const CGROUP_DIR: &str = "nixproc-sysvinit";

/// The service id of process `name` of a composition whose runtime directory is
/// `runtime_dir`: `KEY/NAME`, KEY being [`escape_path`] of the runtime directory, so that
/// deployments with different runtime directories never share a service.
pub fn service_id(runtime_dir: &str, name: &str) -> String {
    format!("{}/{name}", escape_path(runtime_dir))
}

/// A path as one file name, as `systemd-escape --path` writes it: without the outer
/// slashes, each `/` a `-`, and every byte but ASCII letters, digits, `:`, `_` and `.`
/// (and a leading `.`) as `\xHH`; the root is `-`.
pub fn escape_path(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return "-".into();
    }
    let mut out = String::new();
    for (i, byte) in parts.join("/").bytes().enumerate() {
        match byte {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || b":_.".contains(&b) => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The cgroup v2 hierarchy the library uses, as it finds it: a pure hierarchy at
/// `/sys/fs/cgroup`, else a hybrid one at `/sys/fs/cgroup/unified`; `None` without one.
/// (The library also needs root and a writable hierarchy; a reader does not.)
pub fn cgroup_root() -> Option<PathBuf> {
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(PathBuf::from)
        .find(|root| root.join("cgroup.controllers").is_file())
}

/// The cgroup v1 hierarchies of the controllers a hybrid system keeps there (memory,
/// pids, cpu), where the library sets those limits when cgroup v2 lacks them.
pub fn cgroup_v1_roots() -> Vec<PathBuf> {
    ["memory", "pids", "cpu"]
        .into_iter()
        .map(|c| Path::new("/sys/fs/cgroup").join(c))
        .filter(|dir| {
            dir.join("cgroup.procs").is_file() && !dir.join("cgroup.controllers").exists()
        })
        .collect()
}

/// The inode numbers of the first PID and cgroup namespaces (the kernel's fixed
/// `PROC_PID_INIT_INO` and `PROC_CGROUP_INIT_INO`).
const FIRST_PID_NS: u64 = 0xEFFF_FFFC;
const FIRST_CGROUP_NS: u64 = 0xEFFF_FFFB;

/// The directory of every service's cgroup below a hierarchy's root: [`CGROUP_DIR`], or
/// `CGROUP_DIR/pidns-INODE` for a process in a PID namespace of its own that shares the
/// first cgroup namespace (a chroot or container on a kernel whose cgroups it shares), so
/// that such machines never share services.
pub fn services_dir() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let ino = |ns: &str| std::fs::metadata(format!("/proc/self/ns/{ns}")).map(|m| m.ino());
    match (ino("pid"), ino("cgroup")) {
        (Ok(pid), Ok(FIRST_CGROUP_NS)) if pid != FIRST_PID_NS => {
            Path::new(CGROUP_DIR).join(format!("pidns-{pid}"))
        }
        _ => PathBuf::from(CGROUP_DIR),
    }
}

/// The cgroup of `service` under the hierarchy `root`.
pub fn cgroup_dir(root: &Path, service: &str) -> PathBuf {
    root.join(services_dir()).join(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_escaped_as_systemd_escapes_them() {
        assert_eq!(escape_path("/var/run"), "var-run");
        assert_eq!(escape_path("/"), "-");
        assert_eq!(escape_path("/tmp/a-b/run/"), "tmp-a\\x2db-run");
        assert_eq!(escape_path("/.hidden/x y"), "\\x2ehidden-x\\x20y");
        assert_ne!(escape_path("/a-b/c"), escape_path("/a/b-c"));
        assert_eq!(service_id("/var/run", "web"), "var-run/web");
    }
}
