//! A user's account registry: for users other than root it lives in their own state
//! directory, and the registries earlier versions kept in `LIBDIR/nixproc-sysvinit/` are
//! moved or merged into it.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::migrate::move_file;
use super::{
    check_trusted, euid, old_layout_dir, owned_by_caller, sync_dir, StateOptions, TOOL_DIR_SUFFIX,
};
use crate::deploy::accounts::ACCOUNTS_FILE;
use crate::deploy::{DeployError, Result};

/// The lock of the account registry, next to it (the one [`crate::deploy::accounts`] takes).
const REGISTRY_LOCK: &str = "accounts.lock";

/// The directory of the account registry a switch uses
/// ([`crate::deploy::transaction::switch::Settings::accounts_dir`]): for root `LIBDIR/nixproc-sysvinit`, in
/// which [`crate::deploy::accounts`] finds a registry an earlier version left there to merge into
/// the machine's; for anybody else their own [`user_state_dir`], whatever the options.
pub fn accounts_dir(lib_dir: &Path) -> PathBuf {
    let old = old_layout_dir(lib_dir);
    if euid() == 0 {
        return old;
    }
    user_state_dir().unwrap_or(old)
}

/// A user's own state directory of the tools: `$XDG_STATE_HOME/nixproc-sysvinit` (for
/// an absolute `XDG_STATE_HOME`), else `$HOME/.local/state/nixproc-sysvinit`; `None`
/// without either.
pub fn user_state_dir() -> Option<PathBuf> {
    state_dir_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

/// [`user_state_dir`] for these values of `XDG_STATE_HOME` and `HOME`.
fn state_dir_from(xdg: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let absolute = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    absolute(xdg)
        .or_else(|| absolute(home).map(|h| h.join(".local/state")))
        .map(|d| d.join(TOOL_DIR_SUFFIX))
}

/// For users other than root: merges into `accounts_dir` (moves, when it has none) the
/// account registries earlier versions kept in the old library directories of
/// `options`. One line for each registry merged or moved.
pub fn move_account_registries(options: &StateOptions, accounts_dir: &Path) -> Result<Vec<String>> {
    if euid() == 0 {
        return Ok(Vec::new());
    }
    let mut lines = Vec::new();
    for (lib, _) in options.old_lib_dirs() {
        let old = old_layout_dir(&lib);
        let same = matches!(
            (fs::canonicalize(&old), fs::canonicalize(accounts_dir)),
            (Ok(a), Ok(b)) if a == b
        );
        // Another's registry (root's machine registry, say) is not this user's to move.
        if old == accounts_dir
            || same
            || !owned_by_caller(&old)
            || fs::symlink_metadata(old.join(ACCOUNTS_FILE)).is_err()
        {
            continue;
        }
        check_trusted(&old, "old account registry directory")?;
        lines.extend(move_registry(&old, accounts_dir)?);
    }
    Ok(lines)
}

/// Moves or merges the registry of `old` into `new` under both registries' locks; the
/// merged old file is kept as `accounts.json.merged`, as [`crate::deploy::accounts`] does.
fn move_registry(old: &Path, new: &Path) -> Result<Option<String>> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(new)
        .map_err(|e| DeployError::io("creating", new, e))?;
    check_trusted(new, "account registry directory")?;
    let _old_lock = lock_file(&old.join(REGISTRY_LOCK))?;
    let _new_lock = lock_file(&new.join(REGISTRY_LOCK))?;
    let (from, to) = (old.join(ACCOUNTS_FILE), new.join(ACCOUNTS_FILE));
    let Some(theirs) = read_registry(&from)? else {
        return Ok(None);
    };
    let Some(mut ours) = read_registry(&to)? else {
        move_file(&from, &to)?;
        sync_dir(new);
        return Ok(Some(format!(
            "moved the account registry {} to {}",
            from.display(),
            to.display()
        )));
    };
    merge_registry(&mut ours, theirs).map_err(|message| DeployError::Registry {
        path: to.clone(),
        message,
    })?;
    write_registry(&to, &ours)?;
    let merged = old.join(format!("{ACCOUNTS_FILE}.merged"));
    fs::rename(&from, &merged).map_err(|e| DeployError::io("renaming", &from, e))?;
    Ok(Some(format!(
        "merged the account registry {} into {} (the old one is now {})",
        from.display(),
        to.display(),
        merged.display()
    )))
}

/// Opens (creating, never through a link) and `flock`s the file `path`, waiting.
fn lock_file(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| DeployError::io("opening", path, e))?;
    loop {
        // SAFETY: flock on a descriptor we own; released when the file closes.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(file);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(DeployError::io("locking", path, err));
        }
    }
}

/// Reads the registry file `path` (a regular file, not through a link); `None` when
/// there is none.
fn read_registry(path: &Path) -> Result<Option<Value>> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DeployError::io("opening", path, e)),
    };
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| DeployError::io("reading", path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| DeployError::Registry {
            path: path.to_path_buf(),
            message: format!("{e}; repair the file or remove it"),
        })
}

/// Replaces the registry file `path` with `registry`: a temporary file, synced,
/// renamed over it.
fn write_registry(path: &Path, registry: &Value) -> Result<()> {
    let tmp = path.with_file_name(format!("{ACCOUNTS_FILE}.tmp"));
    let text = serde_json::to_string_pretty(registry).map_err(|e| DeployError::Registry {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })()
    .map_err(|e| DeployError::io("writing", path, e))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// Adds the accounts and claims of the registry `theirs` to `ours` (the format of
/// [`crate::deploy::accounts`]: `groups` and `users`, each account's entry a list of claims or
/// `{claims, pending}`); `ours` keeps its pending deletion when both have one.
fn merge_registry(ours: &mut Value, theirs: Value) -> std::result::Result<(), String> {
    let ours = ours
        .as_object_mut()
        .ok_or("the registry is not a JSON object")?;
    for kind in ["groups", "users"] {
        let Some(accounts) = theirs.get(kind).and_then(Value::as_object) else {
            continue;
        };
        let mine = ours
            .entry(kind)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or(format!("`{kind}` is not a JSON object"))?;
        for (name, entry) in accounts {
            let merged = match mine.get(name) {
                Some(own) => merge_entry(own, entry),
                None => merge_entry(entry, &json!([])),
            };
            mine.insert(name.clone(), merged);
        }
    }
    Ok(())
}

/// One account's entry with the claims of `a` and `b`, and `a`'s pending deletion
/// (else `b`'s).
fn merge_entry(a: &Value, b: &Value) -> Value {
    let claims = |v: &Value| -> BTreeSet<String> {
        let list = if v.is_array() { v } else { &v["claims"] };
        list.as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut all = claims(a);
    all.extend(claims(b));
    let pending = [a, b]
        .into_iter()
        .find_map(|v| v.get("pending").filter(|p| p.is_string()).cloned());
    match pending {
        Some(p) => json!({"claims": all, "pending": p}),
        None => json!({"claims": all}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_merge_claims_of_both_formats() {
        let mut ours =
            json!({"users": {"u": {"claims": ["/p/a"]}, "v": {"claims": [], "pending": "busy"}}});
        let theirs = json!({"groups": {"g": ["/p/b"]}, "users": {"u": ["/p/b"], "v": {"claims": ["/p/c"], "pending": "old"}}});
        merge_registry(&mut ours, theirs).unwrap();
        assert_eq!(ours["users"]["u"], json!({"claims": ["/p/a", "/p/b"]}));
        assert_eq!(
            ours["users"]["v"],
            json!({"claims": ["/p/c"], "pending": "busy"})
        );
        assert_eq!(ours["groups"]["g"], json!({"claims": ["/p/b"]}));
        assert!(merge_registry(&mut json!([]), json!({})).is_err());
    }

    #[test]
    fn a_users_state_directory_follows_xdg() {
        let d =
            |x: Option<&str>, h: Option<&str>| state_dir_from(x.map(Into::into), h.map(Into::into));
        assert_eq!(
            d(Some("/x/state"), Some("/home/u")),
            Some(PathBuf::from("/x/state/nixproc-sysvinit"))
        );
        assert_eq!(
            d(Some("relative"), Some("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/nixproc-sysvinit"))
        );
        assert_eq!(d(None, None), None);
    }
}
