//! `nixproc-sysvinit-id-assign` on a copy of the upstream-style example
//! (tests/fixtures/upstream-webapps, with nix-processmgmt's own idresources.nix): real
//! `nix-instantiate` evaluations of the model, the resources and the ids it writes, and
//! the model reading those ids back.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::nixbuild::stand_in_nixpkgs;
use common::{assert_failed, assert_succeeded, repo_root, stdout_of, TestDir};

const ID_ASSIGN: &str = env!("CARGO_BIN_EXE_nixproc-sysvinit-id-assign");

/// Resource name to (instance name to id).
pub(crate) type Ids = BTreeMap<String, BTreeMap<String, i64>>;

/// A copy of the example, next to a link to this repository's `nix/` (its imports are
/// relative); returns the copy's directory.
pub(crate) fn example_copy(dir: &TestDir) -> PathBuf {
    let copy = dir.join("tests/fixtures/upstream-webapps");
    symlink(repo_root().join("nix"), dir.path().join("nix")).unwrap();
    let status = Command::new("cp")
        .arg("-R")
        .arg(repo_root().join("tests/fixtures/upstream-webapps"))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success(), "copying the fixture");
    copy
}

pub(crate) fn nix_path() -> String {
    format!("nixpkgs={}", stand_in_nixpkgs().display())
}

/// Runs the tool in `copy` with `args` (then `--output-file ids-advanced.nix` and the
/// model `model`, both in `copy`).
fn id_assign(copy: &Path, model: &str, args: &[&str]) -> Output {
    Command::new(ID_ASSIGN)
        .current_dir(copy)
        .env("NIX_PATH", nix_path())
        .args(args)
        .args(["--output-file", "ids-advanced.nix", model])
        .output()
        .expect("run nixproc-sysvinit-id-assign")
}

/// Assigns for `model` from the example's resources, starting from the ids file
/// there, and returns the file's text.
fn assign(copy: &Path, model: &str) -> String {
    let out = id_assign(
        copy,
        model,
        &[
            "--id-resources",
            "idresources.nix",
            "--ids",
            "ids-advanced.nix",
        ],
    );
    assert_succeeded(&out);
    fs::read_to_string(copy.join("ids-advanced.nix")).unwrap()
}

/// `expr` evaluated by `nix-instantiate --eval --strict --json` in `copy`.
pub(crate) fn eval_json(copy: &Path, expr: &str) -> serde_json::Value {
    let text = stdout_of(
        Command::new("nix-instantiate")
            .current_dir(copy)
            .env("NIX_PATH", nix_path())
            .args(["--eval", "--strict", "--json", "-E", expr]),
        "nix-instantiate --eval",
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{expr}: {e}: {text}"))
}

/// The `ids` of the written ids-advanced.nix in `copy`, read by Nix itself.
pub(crate) fn written_ids(copy: &Path) -> Ids {
    let json = eval_json(copy, "(import ./ids-advanced.nix).ids");
    serde_json::from_value(json).unwrap()
}

/// Writes `processes-advanced.nix` with `edit` applied as `NAME.nix` and returns NAME.nix.
fn variant(copy: &Path, name: &str, edit: impl Fn(String) -> String) -> String {
    let text = fs::read_to_string(copy.join("processes-advanced.nix")).unwrap();
    let changed = edit(text.clone());
    assert_ne!(changed, text, "the edit of {name} changed nothing");
    let file = format!("{name}.nix");
    fs::write(copy.join(&file), changed).unwrap();
    file
}

/// The advanced model with webapp3 replaced by the instances `numbers` (none: removed),
/// in its definitions and in the first nginx's list of webapps.
fn replacing_webapp3(text: String, numbers: &[u32]) -> String {
    let defs: String = numbers
        .iter()
        .map(|n| format!("  webapp{n} = webappInstance \"{n}\";\n"))
        .collect();
    let list: String = numbers.iter().map(|n| format!(" webapp{n}")).collect();
    text.replace("  webapp3 = webappInstance \"3\";\n", &defs)
        .replace(
            "webapps = [ webapp1 webapp2 webapp3 webapp4 ];",
            &format!("webapps = [ webapp1 webapp2{list} webapp4 ];"),
        )
}

fn webapps(numbers: std::ops::RangeInclusive<u32>) -> Vec<String> {
    numbers.map(|n| format!("webapp{n}")).collect()
}

/// Every id of every resource lies in its range and is given once, and each resource
/// has exactly the instances `expected` names.
fn assert_valid(ids: &Ids, expected: &[(&str, Vec<String>)]) {
    let ranges = [
        ("webappPorts", 5000..=6000),
        ("nginxPorts", 8080..=9000),
        ("uids", 2000..=3000),
        ("gids", 2000..=3000),
    ];
    for (resource, range) in ranges {
        let got = &ids[resource];
        let mut seen = std::collections::BTreeSet::new();
        for (instance, id) in got {
            assert!(range.contains(id), "{resource}.{instance} = {id}");
            assert!(seen.insert(*id), "{resource}: {id} given twice: {got:?}");
        }
        let (_, names) = expected.iter().find(|(r, _)| *r == resource).unwrap();
        let mut names = names.clone();
        names.sort();
        assert_eq!(got.keys().cloned().collect::<Vec<_>>(), names, "{resource}");
    }
}

/// The advanced model's 8 instances get ids in their ranges, none twice, the lowest in
/// name order; running again from the result writes the same bytes; and the model reads
/// the ids back (webapp1's port, its uid and gid, nginx2's port).
#[test]
fn the_advanced_model_gets_unique_ids_that_it_reads_back() {
    let dir = TestDir::new("id-assign-advanced");
    let copy = example_copy(&dir);
    let out = id_assign(
        &copy,
        "processes-advanced.nix",
        &["--id-resources", "idresources.nix"],
    );
    assert_succeeded(&out);
    let first = fs::read(copy.join("ids-advanced.nix")).unwrap();
    let ids = written_ids(&copy);
    let all: Vec<String> = ["nginx", "nginx2"]
        .iter()
        .map(|s| s.to_string())
        .chain(webapps(1..=6))
        .collect();
    assert_valid(
        &ids,
        &[
            ("webappPorts", webapps(1..=6)),
            ("nginxPorts", vec!["nginx".into(), "nginx2".into()]),
            ("uids", all.clone()),
            ("gids", all),
        ],
    );
    assert_eq!(ids["webappPorts"]["webapp1"], 5000);
    assert_eq!(ids["webappPorts"]["webapp6"], 5005);
    assert_eq!(ids["uids"]["nginx"], 2000);
    assert_eq!(ids["uids"]["webapp6"], 2007);
    let last = eval_json(&copy, "(import ./ids-advanced.nix).lastAssignments");
    assert_eq!(
        last,
        serde_json::json!({"gids": 2007, "nginxPorts": 8081, "uids": 2007, "webappPorts": 5005})
    );

    // Idempotent: from its own result, the tool writes the same bytes, to a file or out.
    let again = assign(&copy, "processes-advanced.nix");
    assert_eq!(again.as_bytes(), first.as_slice());
    let stdout = stdout_of(
        Command::new(ID_ASSIGN)
            .current_dir(&copy)
            .env("NIX_PATH", nix_path())
            .args([
                "--id-resources",
                "idresources.nix",
                "--ids",
                "ids-advanced.nix",
            ])
            .arg("processes-advanced.nix"),
        "id-assign to stdout",
    );
    assert_eq!(stdout.as_bytes(), first.as_slice());

    // The model reads what was written.
    let seen = eval_json(
        &copy,
        "let m = import ./processes-advanced.nix { }; in { port = m.webapp1.port; \
         nginx2 = m.nginx2.port; inherit (m.webapp1.pkg.accounts) users groups; }",
    );
    assert_eq!(seen["port"], 5000, "{seen}");
    assert_eq!(seen["nginx2"], 8081, "{seen}");
    assert_eq!(
        seen["users"]["webapp1"]["uid"], ids["uids"]["webapp1"],
        "{seen}"
    );
    assert_eq!(
        seen["groups"]["webapp1"]["gid"], ids["gids"]["webapp1"],
        "{seen}"
    );
}

/// Removing an instance frees its ids; an instance added afterwards keeps everyone
/// else's ids untouched and gets the lowest free ones (the freed ones); one more gets
/// the next ids above the highest.
#[test]
fn removed_instances_free_their_ids_and_new_ones_get_the_lowest_free() {
    let dir = TestDir::new("id-assign-changes");
    let copy = example_copy(&dir);
    assign(&copy, "processes-advanced.nix");
    let before = written_ids(&copy);

    let without3 = variant(&copy, "without-webapp3", |t| replacing_webapp3(t, &[]));
    assign(&copy, &without3);
    let removed = written_ids(&copy);
    for resource in ["webappPorts", "uids", "gids"] {
        assert!(
            !removed[resource].contains_key("webapp3"),
            "{resource}: {removed:?}"
        );
        let mut expected = before[resource].clone();
        expected.remove("webapp3");
        assert_eq!(
            removed[resource], expected,
            "{resource}: the others keep theirs"
        );
    }

    let with7 = variant(&copy, "with-webapp7", |t| replacing_webapp3(t, &[7]));
    assign(&copy, &with7);
    let added = written_ids(&copy);
    for resource in ["webappPorts", "uids", "gids"] {
        assert_eq!(
            added[resource].get("webapp7"),
            before[resource].get("webapp3"),
            "{resource}: webapp7 gets the lowest free id, webapp3's"
        );
        for (instance, id) in &removed[resource] {
            assert_eq!(
                added[resource].get(instance),
                Some(id),
                "{resource}.{instance}"
            );
        }
    }

    let with8 = variant(&copy, "with-webapp8", |t| replacing_webapp3(t, &[7, 8]));
    assign(&copy, &with8);
    let more = written_ids(&copy);
    assert_eq!(more["webappPorts"]["webapp8"], 5006);
    assert_eq!(more["uids"]["webapp8"], 2008);
    assert_eq!(
        more["webappPorts"]["webapp7"],
        added["webappPorts"]["webapp7"]
    );
}

/// A range too small for the instances needing it is an error naming the resource, its
/// range and the need, and leaves the ids file as it was.
#[test]
fn a_range_too_small_is_an_error_and_writes_nothing() {
    let dir = TestDir::new("id-assign-small");
    let copy = example_copy(&dir);
    let before = assign(&copy, "processes-advanced.nix");
    fs::write(
        copy.join("idresources-small.nix"),
        "rec {\n  webappPorts = { min = 5000; max = 5004; };\n  nginxPorts = { min = 8080; max = 9000; };\n  \
         uids = { min = 2000; max = 3000; };\n  gids = uids;\n}\n",
    )
    .unwrap();
    let out = id_assign(
        &copy,
        "processes-advanced.nix",
        &[
            "--id-resources",
            "idresources-small.nix",
            "--ids",
            "ids-advanced.nix",
        ],
    );
    let err = assert_failed(&out);
    assert!(
        err.contains("resource 'webappPorts' (5000..5004) holds 5 ids, but 6 instances need one"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(copy.join("ids-advanced.nix")).unwrap(),
        before
    );
}

/// A requirement that is not a list, and a resource the id resources lack, are errors
/// naming the instance and the attribute or resource; a `pkg` that cannot evaluate is
/// never looked at.
#[test]
fn bad_requirements_name_the_instance_and_packages_are_not_forced() {
    let dir = TestDir::new("id-assign-errors");
    let copy = example_copy(&dir);
    let resources = ["--id-resources", "idresources.nix"];

    let not_a_list = variant(&copy, "not-a-list", |t| {
        t.replacen(
            "requiresUniqueIdsFor = [ \"nginxPorts\" \"uids\" \"gids\" ];",
            "requiresUniqueIdsFor = \"nginxPorts\";",
            1,
        )
    });
    let err = assert_failed(&id_assign(&copy, &not_a_list, &resources));
    assert!(
        err.contains("instance 'nginx': attribute 'requiresUniqueIdsFor' must be a list of resource names, got a string"),
        "{err}"
    );

    let misspelt = variant(&copy, "misspelt", |t| {
        t.replacen(
            "[ \"nginxPorts\" \"uids\" \"gids\" ]",
            "[ \"nginxPort\" \"uids\" \"gids\" ]",
            1,
        )
    });
    let err = assert_failed(&id_assign(&copy, &misspelt, &resources));
    assert!(
        err.contains("instance 'nginx' requires ids of the resource 'nginxPort', which the id resources do not define (did you mean 'nginxPorts'?)"),
        "{err}"
    );

    let broken_pkgs = variant(&copy, "broken-pkgs", |t| {
        t.replace(
            "pkg = constructors.",
            "pkg = throw \"pkg was forced\"; unused = constructors.",
        )
    });
    assert_succeeded(&id_assign(&copy, &broken_pkgs, &resources));
    assert_eq!(written_ids(&copy)["nginxPorts"]["nginx2"], 8081);
}

/// The library call the switch makes: it creates the ids file, reports no change when
/// assigning again leaves it as it is, and a change once the model has another instance.
#[test]
fn assign_files_reports_whether_the_ids_file_changed() {
    use nixproc_sysvinit::deploy::model::{BuildParams, ModelSource};
    use nixproc_sysvinit::ids::assign_files;

    let dir = TestDir::new("id-assign-files");
    let copy = example_copy(&dir);
    let resources = copy.join("idresources.nix");
    let ids = copy.join("ids-advanced.nix");
    let params = BuildParams::default();
    let model = ModelSource::File(copy.join("processes-advanced.nix"));
    let changed = assign_files(&model, &resources, &ids, &params).unwrap();
    assert!(changed, "the ids file was created");
    let first = fs::read_to_string(&ids).unwrap();
    assert!(!assign_files(&model, &resources, &ids, &params).unwrap());
    assert_eq!(fs::read_to_string(&ids).unwrap(), first);

    let more = variant(&copy, "with-webapp7", |t| replacing_webapp3(t, &[3, 7]));
    let model = ModelSource::File(copy.join(more));
    assert!(assign_files(&model, &resources, &ids, &params).unwrap());
    assert_eq!(written_ids(&copy)["webappPorts"]["webapp7"], 5006);
}
