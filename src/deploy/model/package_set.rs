//! The package set a built profile's model got, as the profile builder records it.

use std::path::Path;

use crate::tree::layout;

/// Which package set the model of a built profile got, as the profile builder records
/// it in `share/nixproc-sysvinit/package-set` ("nixpkgs", "host-packages shim"...);
/// `None` for a profile without that file.
pub fn package_set(profile: &Path) -> Option<String> {
    let text = std::fs::read_to_string(profile.join(layout::PACKAGE_SET_FILE)).ok()?;
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_string())
}
