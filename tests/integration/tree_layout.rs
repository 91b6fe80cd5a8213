//! The Nix side writes and reads process trees too (`nix/lib/tree.nix` writes a tree from a
//! rendering, `nix/build-profile.nix` merges trees); it cannot share the Rust constants
//! of `tree::layout`, so this test checks that it spells the same paths.

use std::fs;
use std::path::Path;

use nixproc_sysvinit::tree::layout::{
    self, CLAIMS_DIR, CREDENTIALS_DIR, GROUPS, INIT_D, INIT_D_DIR, MANIFEST_DIR,
    MANIFEST_EXTENSION, PACKAGE_SET_FILE, RC_DIR, SHARE_DIR, USERS,
};

/// The text of `nix/NAME`.
fn nix_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("nix").join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts that `file` contains each of `needles`.
fn assert_spells(file: &str, needles: &[String]) {
    let text = nix_file(file);
    for needle in needles {
        assert!(
            text.contains(needle.as_str()),
            "nix/{file} does not contain {needle:?}"
        );
    }
}

#[test]
fn the_nix_tree_writers_use_the_layout() {
    assert_spells(
        "lib/tree.nix",
        &[
            format!("d=\"$out/{RC_DIR}\""),
            format!("\"$d/{INIT_D}/$processName\""),
            format!("\"$out/{MANIFEST_DIR}/$processName.{MANIFEST_EXTENSION}\""),
            format!(
                "put_each group \"$out/{}\"",
                layout::credentials_dir(GROUPS)
            ),
            format!("put_each user \"$out/{}\"", layout::credentials_dir(USERS)),
            format!("put_each claim \"$out/{CLAIMS_DIR}\""),
        ],
    );
    assert_spells(
        "build-profile.nix",
        &[
            format!("claims={CLAIMS_DIR}\n"),
            format!("= {CREDENTIALS_DIR} ]"),
            format!("\"$p\"/{CREDENTIALS_DIR}/*/*"),
            format!("mkdir -p \"$out/{SHARE_DIR}\""),
            format!("> \"$out/{PACKAGE_SET_FILE}\""),
        ],
    );
    assert_spells(
        "create-credentials.nix",
        &[format!(
            "cp -R \"$TMPDIR/tree/{CREDENTIALS_DIR}\" \"$out/\""
        )],
    );
}

/// Every path into a tree that a Nix file spells (in code or comments) is one of the
/// layout's, or lies in one of its directories; a misspelt directory fails here.
#[test]
fn every_tree_path_the_nix_files_spell_is_in_the_layout() {
    let mut files: Vec<String> = [RC_DIR, INIT_D_DIR, CREDENTIALS_DIR, SHARE_DIR]
        .into_iter()
        .chain([MANIFEST_DIR, CLAIMS_DIR, PACKAGE_SET_FILE])
        .map(str::to_string)
        .collect();
    let mut dirs: Vec<String> = vec![
        INIT_D_DIR.into(),
        layout::credentials_dir(GROUPS),
        layout::credentials_dir(USERS),
        MANIFEST_DIR.into(),
        CLAIMS_DIR.into(),
        // Comments name "the links of runlevel N".
        format!("{RC_DIR}/rcN.d"),
    ];
    dirs.extend((0..=6).map(layout::runlevel_path));
    files.extend(dirs.iter().cloned());
    let roots = [RC_DIR, CREDENTIALS_DIR, SHARE_DIR];
    let mut seen = 0;
    let nix = Path::new(env!("CARGO_MANIFEST_DIR")).join("nix");
    let entries = fs::read_dir(&nix)
        .unwrap()
        .chain(fs::read_dir(nix.join("lib")).unwrap());
    for entry in entries {
        let path = entry.unwrap().path();
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        for root in roots {
            for (at, _) in text.match_indices(root) {
                let token: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "._/-".contains(*c))
                    .collect();
                let token = token.trim_end_matches(['/', '.']);
                let known = files.iter().any(|f| f == token)
                    || dirs.iter().any(|d| token.starts_with(&format!("{d}/")));
                assert!(
                    known,
                    "{}: {token:?} is not in tree::layout",
                    path.display()
                );
                seen += 1;
            }
        }
    }
    assert!(seen > 20, "only {seen} tree paths found in nix/");
}
