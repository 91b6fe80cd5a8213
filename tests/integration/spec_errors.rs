//! Bad input: each case checks the exact error text a user sees.
//!
//! Most cases are data: `tests/errors/spec/TEST/NAME.json` is a process description and
//! `NAME.err` the exact message rendering it must give, for the test `TEST` below that
//! reads that directory. After an intended change of a message, run
//! `UPDATE_EXPECTED=1 cargo test --release --test integration -- spec_errors::` and review
//! the diff. What is not one description and its message stays code here.

use nixproc_sysvinit::render::render_json;
use serde_json::{json, Value};

use crate::common::expected::{check_error_cases, error_case_tests, update_expected};

/// The tests below that read cases from `tests/errors/spec/`.
const CASE_TESTS: [&str; 10] = [
    "invalid_names_are_errors",
    "missing_or_empty_things_are_errors",
    "privileged_credentials_need_the_opt_in",
    "runlevels_outside_the_supported_ones_are_errors",
    "secrets_that_others_could_read_are_errors",
    "sequence_overflow_names_the_dependency",
    "unknown_attribute_suggests_the_known_one",
    "unknown_nested_attributes_name_their_path",
    "values_out_of_range_are_errors",
    "wrong_types_name_the_attribute_and_both_types",
];

/// Renders every description of `tests/errors/spec/TEST/` and compares its error with
/// the case's `.err` file (writes the file instead with `UPDATE_EXPECTED=1`); reports
/// every case that differs.
fn check_cases(test: &str) {
    check_error_cases("spec", test, "json", |case| {
        let got = match render_json(&case.input_text()) {
            Ok(_) => {
                return vec![format!(
                    "{}: rendered without an error",
                    case.input.display()
                )]
            }
            Err(e) => e,
        };
        if update_expected() {
            case.record(&got);
            return Vec::new();
        }
        match case.expected_text() {
            Some(want) if want == got => Vec::new(),
            Some(want) => vec![format!(
                "{}:\n  want: {want}\n  got:  {got}",
                case.input.display()
            )],
            None => vec![format!(
                "{}: missing (UPDATE_EXPECTED=1 writes it); the error is: {got}",
                case.expected.display()
            )],
        }
    });
}

/// Every directory of cases is read by a test.
#[test]
fn every_error_case_directory_has_its_test() {
    assert_eq!(error_case_tests("spec"), CASE_TESTS);
}

fn error_of(spec: Value) -> String {
    match render_json(&spec.to_string()) {
        Ok(_) => panic!("expected an error for {spec}"),
        Err(e) => e,
    }
}

fn web(extra: Value) -> Value {
    let mut spec = json!({"name": "webapp", "process": "/bin/webapp"});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec
}

#[test]
fn unknown_attribute_suggests_the_known_one() {
    check_cases("unknown_attribute_suggests_the_known_one");
}

#[test]
fn unknown_nested_attributes_name_their_path() {
    check_cases("unknown_nested_attributes_name_their_path");
}

#[test]
fn secrets_that_others_could_read_are_errors() {
    check_cases("secrets_that_others_could_read_are_errors");
}

#[test]
fn sequence_overflow_names_the_dependency() {
    check_cases("sequence_overflow_names_the_dependency");
}

#[test]
fn runlevels_outside_the_supported_ones_are_errors() {
    check_cases("runlevels_outside_the_supported_ones_are_errors");
}

#[test]
fn invalid_names_are_errors() {
    check_cases("invalid_names_are_errors");
}

#[test]
fn wrong_types_name_the_attribute_and_both_types() {
    check_cases("wrong_types_name_the_attribute_and_both_types");
}

#[test]
fn missing_or_empty_things_are_errors() {
    check_cases("missing_or_empty_things_are_errors");
}

#[test]
fn values_out_of_range_are_errors() {
    check_cases("values_out_of_range_are_errors");
}

#[test]
fn not_json_is_an_error_not_a_crash() {
    assert!(render_json("{ not json")
        .unwrap_err()
        .starts_with("the process description is not valid JSON:"));
}

#[test]
fn privileged_credentials_need_the_opt_in() {
    check_cases("privileged_credentials_need_the_opt_in");
    // A user named like a privileged group is fine when its own group is another one.
    assert!(render_json(
        &web(json!({"credentials": {"users": {"sudo": {"group": "nogroup"}}}})).to_string()
    )
    .is_ok());
}

#[test]
fn privileged_credentials_with_the_opt_in_are_marked_for_the_switch() {
    let rendered = |spec: Value| -> Value {
        serde_json::from_str(&render_json(&spec.to_string()).unwrap()).unwrap()
    };
    let out = rendered(web(json!({
        "allowPrivilegedCredentials": true,
        "credentials": {
            "groups": {"webapp": {}},
            "users": {"webapp": {"group": "webapp", "extraGroups": ["sudo"]}}
        }
    })));
    assert_eq!(
        out["credentials"]["users"]["webapp"],
        "allowPrivilegedCredentials='1'\nextraGroups='sudo'\ngroup='webapp'\n"
    );
    // Only the privileged file says so.
    assert_eq!(out["credentials"]["groups"]["webapp"], "");
    // Without user changes no account is made, so nothing is privileged.
    let out = rendered(web(json!({
        "credentials": {"users": {"webapp": {"uid": 0}}},
        "config": {"forceDisableUserChange": true}
    })));
    assert_eq!(out["credentials"]["users"], json!({}));
}

#[test]
fn strings_beyond_the_kernel_limit_are_errors() {
    let big = "x".repeat(200 * 1024);
    assert_eq!(
        error_of(web(json!({"environment": {"PORT": 80, "BIG": big}}))),
        "process 'webapp': attribute 'environment.BIG': the value is 204800 bytes; as the environment string 'BIG=...' it is 204805 bytes, beyond the kernel's limit of 131072 bytes for one string (MAX_ARG_STRLEN), so the process could not be started; pass large data in a file instead"
    );
    // The limit counts `NAME=` and the NUL: the largest value that fits passes.
    let fits = "x".repeat(131072 - "BIG=".len() - 1);
    assert!(render_json(&web(json!({"environment": {"BIG": fits.clone()}})).to_string()).is_ok());
    assert!(
        render_json(&web(json!({"environment": {"BIG": format!("{fits}x")}})).to_string()).is_err()
    );
    assert_eq!(
        error_of(web(json!({"args": ["-v", big]}))),
        "process 'webapp': attribute 'args[1]': the argument is 204800 bytes, beyond the kernel's limit of 131072 bytes for one string (MAX_ARG_STRLEN), so the process could not be started; pass large data in a file instead"
    );
}
