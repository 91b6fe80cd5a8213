use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn reqs(entries: &[(&str, &[&str])]) -> Requirements {
    entries
        .iter()
        .map(|(i, rs)| (i.to_string(), rs.iter().map(|r| r.to_string()).collect()))
        .collect()
}

fn upstream_resources() -> Resources {
    [
        ("webappPorts", Resource::new(5000, 6000)),
        ("nginxPorts", Resource::new(8080, 9000)),
        ("uids", Resource::new(2000, 3000)),
        ("gids", Resource::new(2000, 3000)),
    ]
    .into_iter()
    .map(|(n, r)| (n.to_string(), r))
    .collect()
}

fn previous(entries: &[(&str, &[(&str, i64)])]) -> Assignment {
    Assignment {
        ids: entries
            .iter()
            .map(|(r, ids)| {
                let ids = ids.iter().map(|(i, id)| (i.to_string(), *id)).collect();
                (r.to_string(), ids)
            })
            .collect(),
    }
}

#[test]
fn upstreams_simple_example_gets_upstreams_ids() {
    let r = reqs(&[
        ("webapp", &["webappPorts", "uids", "gids"]),
        ("nginx", &["nginxPorts", "uids", "gids"]),
    ]);
    let a = assign(&r, &upstream_resources(), &Assignment::default()).unwrap();
    assert_eq!(a.get("uids", "nginx"), Some(2000));
    assert_eq!(a.get("uids", "webapp"), Some(2001));
    assert_eq!(a.get("gids", "webapp"), Some(2001));
    assert_eq!(a.get("webappPorts", "webapp"), Some(5000));
    assert_eq!(a.get("nginxPorts", "nginx"), Some(8080));
    let expected = "\
{
  \"ids\" = {
    \"gids\" = {
      \"nginx\" = 2000;
      \"webapp\" = 2001;
    };
    \"nginxPorts\" = {
      \"nginx\" = 8080;
    };
    \"uids\" = {
      \"nginx\" = 2000;
      \"webapp\" = 2001;
    };
    \"webappPorts\" = {
      \"webapp\" = 5000;
    };
  };
  \"lastAssignments\" = {
    \"gids\" = 2001;
    \"nginxPorts\" = 8080;
    \"uids\" = 2001;
    \"webappPorts\" = 5000;
  };
}
";
    assert_eq!(nixfile::render(&a), expected);
}

#[test]
fn held_ids_are_kept_and_newcomers_get_the_lowest_free() {
    let r = reqs(&[("a", &["uids"]), ("b", &["uids"]), ("c", &["uids"])]);
    let old = previous(&[("uids", &[("b", 2000), ("c", 2002)])]);
    let a = assign(&r, &upstream_resources(), &old).unwrap();
    assert_eq!(a.get("uids", "b"), Some(2000));
    assert_eq!(a.get("uids", "c"), Some(2002));
    assert_eq!(
        a.get("uids", "a"),
        Some(2001),
        "the gap is the lowest free id"
    );
}

#[test]
fn ids_of_instances_gone_or_no_longer_needing_them_are_freed() {
    let r = reqs(&[("b", &["uids"]), ("c", &["webappPorts"]), ("d", &["uids"])]);
    let old = previous(&[
        ("uids", &[("a", 2000), ("b", 2001), ("c", 2002)]),
        ("webappPorts", &[("c", 5005)]),
    ]);
    let a = assign(&r, &upstream_resources(), &old).unwrap();
    let uids = &a.ids["uids"];
    assert_eq!(uids.len(), 2, "{uids:?}");
    assert_eq!(a.get("uids", "b"), Some(2001));
    assert_eq!(a.get("uids", "d"), Some(2000), "a's freed id");
    assert_eq!(a.get("uids", "c"), None, "c no longer needs a uid");
    assert_eq!(a.get("webappPorts", "c"), Some(5005));
}

#[test]
fn ids_outside_the_range_or_taken_twice_are_reassigned() {
    let r = reqs(&[("a", &["uids"]), ("b", &["uids"]), ("c", &["uids"])]);
    let old = previous(&[("uids", &[("a", 2005), ("b", 2005), ("c", 99)])]);
    let a = assign(&r, &upstream_resources(), &old).unwrap();
    assert_eq!(a.get("uids", "a"), Some(2005), "the first by name keeps it");
    assert_eq!(a.get("uids", "b"), Some(2000));
    assert_eq!(a.get("uids", "c"), Some(2001));
}

#[test]
fn resources_no_one_needs_are_empty_and_absent_from_last_assignments() {
    let r = reqs(&[("a", &["uids"])]);
    let old = previous(&[("retired", &[("a", 1)])]);
    let a = assign(&r, &upstream_resources(), &old).unwrap();
    assert!(a.ids["nginxPorts"].is_empty());
    assert!(
        !a.ids.contains_key("retired"),
        "undefined resources are dropped"
    );
    let last = a.last_assignments();
    assert_eq!(last.get("uids"), Some(&2000));
    assert!(!last.contains_key("nginxPorts"));
    assert!(nixfile::render(&a).contains("    \"nginxPorts\" = { };\n"));
}

#[test]
fn a_range_too_small_names_the_resource_its_range_and_the_need() {
    let mut res = upstream_resources();
    res.insert("uids".into(), Resource::new(2000, 2001));
    let r = reqs(&[("a", &["uids"]), ("b", &["uids"]), ("c", &["uids"])]);
    let e = assign(&r, &res, &Assignment::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "resource 'uids' (2000..2001) holds 2 ids, but 3 instances need one; \
         widen its range in the id resources"
    );
}

#[test]
fn an_unknown_resource_names_the_instance_with_a_suggestion() {
    let r = reqs(&[("webapp", &["webappPort"])]);
    let e = assign(&r, &upstream_resources(), &Assignment::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "instance 'webapp' requires ids of the resource 'webappPort', which the id \
         resources do not define (did you mean 'webappPorts'?)"
    );
    let r = reqs(&[("webapp", &["zzz"])]);
    let e = assign(&r, &upstream_resources(), &Assignment::default()).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("(it defines: gids, nginxPorts, uids, webappPorts)"),
        "{e}"
    );
}

#[test]
fn the_extremes_of_the_integers_are_handed_out_without_overflow() {
    let res: Resources = [("big".to_string(), Resource::new(i64::MAX - 1, i64::MAX))].into();
    let r = reqs(&[("a", &["big"]), ("b", &["big"])]);
    let a = assign(&r, &res, &Assignment::default()).unwrap();
    assert_eq!(a.get("big", "a"), Some(i64::MAX - 1));
    assert_eq!(a.get("big", "b"), Some(i64::MAX));
    let whole: Resources = [("all".to_string(), Resource::new(i64::MIN, i64::MAX))].into();
    let a = assign(&reqs(&[("a", &["all"])]), &whole, &Assignment::default()).unwrap();
    assert_eq!(a.get("all", "a"), Some(i64::MIN));
}

#[test]
fn resources_parse_with_scope_and_refuse_other_keys() {
    let f = Path::new("idresources.nix");
    let ok = parse::resources(
        f,
        &json!({"uids": {"min": 1, "max": 2, "scope": "machine"}, "p": {"min": 3, "max": 3}}),
    )
    .unwrap();
    assert_eq!(ok["uids"].scope, Scope::Machine);
    assert_eq!(ok["p"], Resource::new(3, 3));
    let err = |v| parse::resources(f, &v).unwrap_err().to_string();
    assert_eq!(
        err(json!({"uids": {"min": 1, "maxi": 2}})),
        "id resources idresources.nix: resource 'uids': unknown attribute 'maxi' \
         (did you mean 'max'?); a resource has min, max and scope"
    );
    assert!(err(json!({"uids": {"min": 3, "max": 2}})).contains("min (3) is greater than max (2)"));
    assert!(err(json!({"uids": {"min": 1}})).contains("'max' is missing"));
    assert!(err(json!({"uids": {"min": "1", "max": 2}}))
        .contains("'min' must be an integer, got a string"));
    assert!(err(json!({"uids": {"min": 1, "max": 2, "scope": "globl"}}))
        .contains("(did you mean 'global'?)"));
    assert!(err(json!([1])).contains("must be an attribute set of resources, got a list"));
}

#[test]
fn ids_files_parse_upstreams_layout_and_hand_written_ones() {
    let f = Path::new("ids.nix");
    let a = parse::ids(
        f,
        &json!({"ids": {"uids": {"a": 2000}}, "lastAssignments": {"uids": 2000}}),
    )
    .unwrap();
    assert_eq!(a.get("uids", "a"), Some(2000));
    assert_eq!(parse::ids(f, &json!({})).unwrap(), Assignment::default());
    let err = |v| parse::ids(f, &v).unwrap_err().to_string();
    assert_eq!(
        err(json!({"id": {}})),
        "ids file ids.nix: unknown attribute 'id' (did you mean 'ids'?); an ids file has \
         ids and lastAssignments"
    );
    assert!(err(json!({"ids": {"uids": {"a": "x"}}}))
        .contains("ids.uids.a must be an integer, got a string"));
}

#[test]
fn assigning_again_from_the_result_changes_nothing() {
    let r = reqs(&[
        ("webapp1", &["webappPorts", "uids", "gids"]),
        ("webapp2", &["webappPorts", "uids", "gids"]),
        ("nginx", &["nginxPorts", "uids", "gids"]),
    ]);
    let first = assign(&r, &upstream_resources(), &Assignment::default()).unwrap();
    let text = nixfile::render(&first);
    let again = assign(&r, &upstream_resources(), &first).unwrap();
    assert_eq!(again, first);
    assert_eq!(nixfile::render(&again), text);
}

#[test]
fn keys_that_need_quoting_are_escaped_as_nix_strings() {
    let a = Assignment {
        ids: BTreeMap::from([(
            "p".to_string(),
            BTreeMap::from([("we\"ird ${x}".to_string(), 1)]),
        )]),
    };
    assert!(nixfile::render(&a).contains(r#"      "we\"ird \${x}" = 1;"#));
}

#[test]
fn the_writer_replaces_atomically_and_only_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ids.nix");
    assert!(nixfile::write_if_changed(&file, "{ }\n").unwrap());
    assert!(!nixfile::write_if_changed(&file, "{ }\n").unwrap());
    assert!(nixfile::write_if_changed(&file, "{ ids = { }; }\n").unwrap());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{ ids = { }; }\n");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["ids.nix"], "no temporary file is left");
}

/// Up to 8 resources of random ranges, up to 40 instances each needing some of them,
/// and a random previous assignment (ids in and out of range, duplicates, strangers).
fn scenario() -> impl Strategy<Value = (Resources, Requirements, Assignment)> {
    let resources = proptest::collection::btree_map(
        "r[0-7]",
        (-5i64..50, 0i64..60).prop_map(|(min, width)| Resource::new(min, min + width)),
        1..8,
    );
    resources.prop_flat_map(|resources| {
        let names: Vec<String> = resources.keys().cloned().collect();
        let requirements = proptest::collection::btree_map(
            "i[0-9]{1,2}",
            proptest::sample::subsequence(names.clone(), 0..=names.len()),
            0..40,
        );
        let held = proptest::collection::btree_map(
            "r[0-9]",
            proptest::collection::btree_map("i[0-9]{1,2}", -10i64..120, 0..30),
            0..8,
        )
        .prop_map(|ids| Assignment { ids });
        (Just(resources), requirements, held)
    })
}

proptest! {
    #[test]
    fn no_id_is_given_twice_and_every_id_lies_in_its_range(
        (resources, requirements, held) in scenario()
    ) {
        let Ok(a) = assign(&requirements, &resources, &held) else {
            // Only a range too small may fail; check it really is.
            let too_small = resources.iter().any(|(name, r)| {
                let n = requirements.values().filter(|rs| rs.contains(name)).count();
                n as i128 > r.capacity()
            });
            prop_assert!(too_small);
            return Ok(());
        };
        for (name, ids) in &a.ids {
            let r = resources[name];
            let mut seen = std::collections::BTreeSet::new();
            for (instance, id) in ids {
                prop_assert!(r.contains(*id), "{name}.{instance} = {id} outside {r:?}");
                prop_assert!(seen.insert(*id), "{name}: {id} given twice");
                prop_assert!(requirements[instance].contains(name));
                if let Some(old) = held.get(name, instance) {
                    let kept_by_earlier = ids
                        .iter()
                        .any(|(i, v)| i < instance && *v == old && held.get(name, i) == Some(old));
                    if r.contains(old) && !kept_by_earlier {
                        prop_assert_eq!(*id, old, "{}.{} lost its id", name, instance);
                    }
                }
            }
            let needed = requirements.values().filter(|rs| rs.contains(name)).count();
            prop_assert_eq!(ids.len(), needed);
        }
        prop_assert_eq!(assign(&requirements, &resources, &a).unwrap(), a);
    }
}
