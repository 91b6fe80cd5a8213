//! The ids.nix writer, in the layout of nix-processmgmt's id assigner: every key a
//! quoted string, keys sorted, two spaces per level, one attribute per line, and a
//! final newline.
//!
//! ```nix
//! {
//!   "ids" = {
//!     "uids" = {
//!       "webapp" = 2000;
//!     };
//!   };
//!   "lastAssignments" = {
//!     "uids" = 2000;
//!   };
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{Assignment, Result};
use crate::deploy::model::nix_string;
use crate::deploy::DeployError;

/// The text of ids.nix for `assignment`.
pub fn render(assignment: &Assignment) -> String {
    let mut out = String::from("{\n  \"ids\" = {\n");
    for (resource, ids) in &assignment.ids {
        attrs(
            &mut out,
            4,
            resource,
            ids.iter().map(|(k, v)| (k.as_str(), *v)),
        );
    }
    out.push_str("  };\n");
    let last: BTreeMap<&str, i64> = assignment.last_assignments();
    attrs(&mut out, 2, "lastAssignments", last.into_iter());
    out.push_str("}\n");
    out
}

/// Appends `"name" = { "KEY" = VALUE; ... };` at `indent` spaces (`{ }` when empty).
fn attrs<'a>(
    out: &mut String,
    indent: usize,
    name: &str,
    entries: impl Iterator<Item = (&'a str, i64)>,
) {
    let pad = " ".repeat(indent);
    let _ = write!(out, "{pad}{} = {{", nix_string(name));
    let mut any = false;
    for (key, value) in entries {
        any = true;
        let _ = write!(out, "\n{pad}  {} = {value};", nix_string(key));
    }
    if any {
        let _ = writeln!(out, "\n{pad}}};");
    } else {
        out.push_str(" };\n");
    }
}

/// Writes `text` to `file` unless it already holds exactly these bytes; returns whether
/// it wrote. The text goes to a new temporary file beside it (created exclusively, so
/// nothing planted there is followed), synced, then renamed over `file`: a reader sees
/// the old or the new file, never a part. A file replaced keeps its permissions.
pub fn write_if_changed(file: &Path, text: &str) -> Result<bool> {
    if std::fs::read(file).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(false);
    }
    let temp = temp_path(file);
    let written = write_new(&temp, file, text).and_then(|()| {
        std::fs::rename(&temp, file)
            .map_err(|e| DeployError::io("renaming into place", file, e).into())
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    Ok(true)
}

/// `DIR/.NAME.tmp-PID` for `DIR/NAME`.
fn temp_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ids.nix".into());
    file.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Creates `temp` (which must not exist) holding `text`, with the permissions of
/// `target` when that exists (else as the umask says), and syncs it.
fn write_new(temp: &Path, target: &Path, text: &str) -> Result<()> {
    let keep = std::fs::metadata(target)
        .ok()
        .map(|m| std::fs::Permissions::from_mode(m.permissions().mode() & 0o7777));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(temp)
        .map_err(|e| DeployError::io("creating", temp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| keep.map_or(Ok(()), |p| f.set_permissions(p)))
        .and_then(|()| f.sync_all())
        .map_err(|e| DeployError::io("writing", temp, e))?;
    Ok(())
}
