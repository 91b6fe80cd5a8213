//! Bad input: each case checks the exact error text a user sees.

use nixproc_sysvinit::render::render_json;
use serde_json::{json, Value};

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
    assert_eq!(
        error_of(json!({"name": "webapp", "proces": "/bin/webapp"})),
        "process 'webapp': unknown attribute 'proces' (did you mean 'process'?)"
    );
    assert_eq!(
        error_of(web(json!({"runlevel": [3]}))),
        "process 'webapp': unknown attribute 'runlevel' (did you mean 'runlevels'?)"
    );
    assert_eq!(
        error_of(web(json!({"colour": "blue"}))),
        "process 'webapp': unknown attribute 'colour'"
    );
}

#[test]
fn unknown_nested_attributes_name_their_path() {
    assert_eq!(
        error_of(web(json!({"config": {"runtimeDirectory": "/run"}}))),
        "process 'webapp': unknown attribute 'config.runtimeDirectory' (did you mean 'runtimeDir'?)"
    );
    assert_eq!(
        error_of(web(json!({"credentials": {"users": {"webapp": {"grop": "webapp"}}}}))),
        "process 'webapp': unknown attribute 'credentials.users.webapp.grop' (did you mean 'group'?)"
    );
    assert_eq!(
        error_of(web(json!({"readiness": {"tcpport": 80}}))),
        "process 'webapp': unknown attribute 'readiness.tcpport' (did you mean 'tcpPort'?)"
    );
}

#[test]
fn sequence_overflow_names_the_dependency() {
    assert_eq!(
        error_of(web(json!({"dependencies": [{"name": "db", "sequence": 99}]}))),
        "process 'webapp': attribute 'dependencies': start sequence 100 exceeds maxSequence 99: 'webapp' starts after 'db' (sequence 99); the dependency chain is too deep"
    );
    assert_eq!(
        error_of(web(json!({
            "dependencies": [{"name": "db", "sequence": 9}],
            "config": {"maxSequence": 9}
        }))),
        "process 'webapp': attribute 'dependencies': start sequence 10 exceeds maxSequence 9: 'webapp' starts after 'db' (sequence 9); the dependency chain is too deep"
    );
}

#[test]
fn runlevels_outside_the_supported_ones_are_errors() {
    assert_eq!(
        error_of(web(json!({"runlevels": [3, 7]}))),
        "process 'webapp': attribute 'runlevels': runlevel 7 is not one of the supported runlevels 0 1 2 3 4 5 6"
    );
    assert_eq!(
        error_of(web(json!({"runlevels": [5], "config": {"supportedRunLevels": [0, 3, 6]}}))),
        "process 'webapp': attribute 'runlevels': runlevel 5 is not one of the supported runlevels 0 3 6"
    );
    assert_eq!(
        error_of(web(json!({"runlevels": [12]}))),
        "process 'webapp': attribute 'runlevels': 12 is not a runlevel (runlevels are 0 to 9)"
    );
}

#[test]
fn invalid_names_are_errors() {
    assert_eq!(
        error_of(json!({"name": "web app", "process": "/bin/x"})),
        "process 'web app': attribute 'name': \"web app\" is not a valid process name (use letters, digits and . _ - @ + :, not starting with . or -)"
    );
    assert_eq!(
        error_of(json!({"name": "../etc/passwd", "process": "/bin/x"})),
        "process '../etc/passwd': attribute 'name': \"../etc/passwd\" is not a valid process name (use letters, digits and . _ - @ + :, not starting with . or -)"
    );
    assert_eq!(
        error_of(json!({"instanceName": "a\nb", "process": "/bin/x"})),
        "process 'a\nb': attribute 'instanceName': \"a\\nb\" is not a valid process name (use letters, digits and . _ - @ + :, not starting with . or -)"
    );
    assert_eq!(
        error_of(web(json!({"user": "root;rm"}))),
        "process 'webapp': attribute 'user': \"root;rm\" is not a valid user or group name (a letter or _ first, then letters, digits, _ . -; at most 32)"
    );
    assert_eq!(
        error_of(web(json!({"environment": {"MY-VAR": "x"}}))),
        "process 'webapp': attribute 'environment.MY-VAR': \"MY-VAR\" is not a valid environment variable name (a letter or _ first, then letters, digits, _)"
    );
}

#[test]
fn wrong_types_name_the_attribute_and_both_types() {
    assert_eq!(
        error_of(web(json!({"nice": "high"}))),
        "process 'webapp': attribute 'nice' must be an integer, got a string"
    );
    assert_eq!(
        error_of(web(json!({"nice": 1.5}))),
        "process 'webapp': attribute 'nice' must be an integer, got a float"
    );
    assert_eq!(
        error_of(web(json!({"args": "-c conf"}))),
        "process 'webapp': attribute 'args' must be a list of strings, got a string"
    );
    assert_eq!(
        error_of(web(json!({"args": [["nested"]]}))),
        "process 'webapp': attribute 'args[0]' must be a string, got a list"
    );
    assert_eq!(
        error_of(web(json!({"processIsDaemon": "no"}))),
        "process 'webapp': attribute 'processIsDaemon' must be a boolean, got a string"
    );
    assert_eq!(
        error_of(json!({"name": 5})),
        "process '<unnamed>': attribute 'name' must be a string, got an integer"
    );
    assert_eq!(
        error_of(json!([1, 2])),
        "a process description must be an attribute set, got a list"
    );
}

#[test]
fn missing_or_empty_things_are_errors() {
    assert_eq!(
        error_of(json!({"process": "/bin/x"})),
        "process description has no name: set 'name' or 'instanceName'"
    );
    assert_eq!(
        error_of(json!({"name": "idle"})),
        "process 'idle': attribute 'process': nothing to run: set 'process', 'instructions' or 'activities'"
    );
    assert_eq!(
        error_of(web(json!({"dependencies": ["/nix/store/abc-webapp"]}))),
        "process 'webapp': attribute 'dependencies[0]': got the string \"/nix/store/abc-webapp\"; pass the process itself (the result of createSystemVInitScript), which carries 'name' and 'sequence'"
    );
    assert_eq!(
        error_of(web(json!({"dependencies": [{"name": "db"}]}))),
        "process 'webapp': attribute 'dependencies[0].sequence': missing"
    );
}

#[test]
fn values_out_of_range_are_errors() {
    assert_eq!(
        error_of(web(json!({"nice": 40}))),
        "process 'webapp': attribute 'nice': 40 is outside the nice range -20..19"
    );
    assert_eq!(
        error_of(web(json!({"umask": "0999"}))),
        "process 'webapp': attribute 'umask': '0999' is not an octal umask such as \"022\""
    );
    assert_eq!(
        error_of(web(json!({"readiness": {"tcpPort": 70000}}))),
        "process 'webapp': attribute 'readiness.tcpPort': 70000 is not a TCP port"
    );
    assert_eq!(
        error_of(web(json!({"readiness": {"timeout": 3}}))),
        "process 'webapp': attribute 'readiness': give exactly one of 'tcpPort' or 'command'"
    );
    assert_eq!(
        error_of(web(json!({"reloadSignal": "HUP; rm -rf /"}))),
        "process 'webapp': attribute 'reloadSignal': \"HUP; rm -rf /\" is not a signal such as \"-HUP\" or \"USR1\""
    );
    assert_eq!(
        error_of(web(json!({"config": {"runtimeDir": "run"}}))),
        "process 'webapp': attribute 'config.runtimeDir': 'run' is not an absolute path"
    );
    assert_eq!(
        error_of(web(json!({"description": "nul\u{0}byte"}))),
        "process 'webapp': attribute 'description': contains a NUL character"
    );
}

#[test]
fn not_json_is_an_error_not_a_crash() {
    assert!(render_json("{ not json")
        .unwrap_err()
        .starts_with("the process description is not valid JSON:"));
}

#[test]
fn privileged_credentials_need_the_opt_in() {
    let user = |fields: Value| web(json!({"credentials": {"users": {"webapp": fields}}}));
    assert_eq!(
        error_of(user(json!({"extraGroups": ["users", "sudo"]}))),
        "process 'webapp': attribute 'credentials.users.webapp.extraGroups' puts user 'webapp' in the privileged group 'sudo'; if that is intended, set 'allowPrivilegedCredentials = true' on the process"
    );
    assert_eq!(
        error_of(user(json!({"group": "wheel"}))),
        "process 'webapp': attribute 'credentials.users.webapp.group' makes the privileged group 'wheel' the primary group of user 'webapp'; if that is intended, set 'allowPrivilegedCredentials = true' on the process"
    );
    assert_eq!(
        error_of(user(json!({"extraGroups": ["root"]}))),
        "process 'webapp': attribute 'credentials.users.webapp.extraGroups' puts user 'webapp' in the privileged group 'root'; if that is intended, set 'allowPrivilegedCredentials = true' on the process"
    );
    assert_eq!(
        error_of(user(json!({"uid": 0}))),
        "process 'webapp': attribute 'credentials.users.webapp.uid' gives user 'webapp' uid 0 (root); if that is intended, set 'allowPrivilegedCredentials = true' on the process"
    );
    assert_eq!(
        error_of(web(json!({"credentials": {"groups": {"webapp": {"gid": 0}}}}))),
        "process 'webapp': attribute 'credentials.groups.webapp.gid' gives group 'webapp' gid 0 (root's group); if that is intended, set 'allowPrivilegedCredentials = true' on the process"
    );
    assert_eq!(
        error_of(web(json!({"credentials": {"groups": {"docker": {}}}}))),
        "process 'webapp': attribute 'credentials.groups.docker' creates the privileged group 'docker'; if that is intended, set 'allowPrivilegedCredentials = true' on the process"
    );
    assert_eq!(
        error_of(web(json!({"credentials": {"users": {"sudo": {"description": "x"}}}}))),
        "process 'webapp': attribute 'credentials.users.sudo' creates the privileged group 'sudo' as the own group of user 'sudo'; if that is intended, set 'allowPrivilegedCredentials = true' on the process"
    );
    assert!(render_json(
        &web(json!({"credentials": {"users": {"sudo": {"group": "nogroup"}}}})).to_string()
    )
    .is_ok());
    assert_eq!(
        error_of(web(json!({"allowPrivilegedCredential": true}))),
        "process 'webapp': unknown attribute 'allowPrivilegedCredential' (did you mean 'allowPrivilegedCredentials'?)"
    );
    assert_eq!(
        error_of(web(json!({"allowPrivilegedCredentials": "yes"}))),
        "process 'webapp': attribute 'allowPrivilegedCredentials' must be a boolean, got a string"
    );
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
