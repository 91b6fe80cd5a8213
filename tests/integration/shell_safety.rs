//! Property test: any string a user can write comes out of the rendered script literally.
//!
//! The composition's commands (`startDaemon`, `log_info_msg` through
//! `initialInstructions`) are replaced by small shell functions that print their
//! arguments NUL-separated, so running the real rendered script shows exactly which words
//! the shell saw. Credential files are sourced by bash and read back.

use std::process::Command;

use nixproc_sysvinit::render::{render_value, Rendered};
use proptest::prelude::*;
use serde_json::json;

/// Shell functions standing in for init-functions: each prints its arguments, NUL-ended.
const ECHO_FUNCTIONS: &str = r#"
log_info_msg() { printf 'MSG\0%s\0' "$1"; }
print_words() { printf 'WORDS\0'; printf '%s\0' "$@"; }
evaluate_retval() { :; }
"#;

/// Strings that stress quoting: quotes, expansions, backslashes, newlines, unicode.
fn nasty() -> impl Strategy<Value = String> {
    let pieces = prop::collection::vec(
        prop_oneof![
            Just("'".to_string()),
            Just("\"".to_string()),
            Just("$(touch /tmp/pwned)".to_string()),
            Just("`id`".to_string()),
            Just("${HOME}".to_string()),
            Just("\\".to_string()),
            Just("\n".to_string()),
            Just("\r\t".to_string()),
            Just("; rm -rf / #".to_string()),
            Just("*".to_string()),
            Just("~".to_string()),
            Just("~/".to_string()),
            Just("é漢🚀".to_string()),
            Just("-n".to_string()),
            Just(" ".to_string()),
            "[^\u{0}]{0,8}",
        ],
        0..8,
    );
    pieces.prop_map(|p| p.concat())
}

/// [`nasty`] strings without the characters no field of `/etc/passwd` can hold (`:`,
/// newline, carriage return: the renderer refuses them, see `spec_errors`).
fn nasty_passwd_field() -> impl Strategy<Value = String> {
    nasty().prop_map(|s| s.replace([':', '\n', '\r'], ""))
}

fn run(script: &str, activity: &str) -> Vec<String> {
    crate::common::stdout_of(
        Command::new("bash").args(["-c", script, "script", activity]),
        "script",
    )
    .split('\0')
    .map(str::to_string)
    .collect()
}

fn rendered(description: &str, env_value: &str, args: &[String], cred: &str) -> Rendered {
    render_value(&json!({
        "name": "probe",
        "description": description,
        "process": "/bin/probe",
        "args": args,
        "environment": {"VALUE": env_value},
        "user": "probe",
        "credentials": {"users": {"probe": {"description": cred, "homeDir": cred}}},
        "activities": {"show": "printf 'ENV\\0%s\\0' \"$VALUE\""},
        "config": {"initialInstructions": ECHO_FUNCTIONS, "startDaemon": "print_words"}
    }))
    .expect("any string is accepted in these attributes")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn user_strings_come_out_literally(
        description in nasty(),
        env_value in nasty(),
        args in prop::collection::vec(nasty(), 0..4),
        cred in nasty_passwd_field(),
    ) {
        let r = rendered(&description, &env_value, &args, &cred);

        let start = run(&r.script, "start");
        prop_assert_eq!(&start[0], "MSG");
        prop_assert_eq!(&start[1], &format!("Starting {description}..."));
        prop_assert_eq!(&start[2], "WORDS");
        // -p PIDFILE -u USER PROGRAM ARGS... (a daemon with a user: nix-processmgmt's
        // PID file in tmpDir)
        prop_assert_eq!(&start[3..7], &["-p", "/tmp/probe.pid", "-u", "probe"]);
        prop_assert_eq!(&start[7], "/bin/probe");
        prop_assert_eq!(&start[8..8 + args.len()], &args[..]);

        let show = run(&r.script, "show");
        prop_assert_eq!(&show[..2], &["ENV".to_string(), env_value.clone()]);

        let file = &r.credentials.users["probe"];
        let read_back = Command::new("bash")
            .args(["-c", &format!("{file}\nprintf '%s\\0%s' \"$description\" \"$homeDir\"")])
            .output()
            .expect("bash runs");
        prop_assert!(read_back.status.success());
        prop_assert_eq!(
            String::from_utf8(read_back.stdout).unwrap(),
            format!("{cred}\0{cred}")
        );
    }
}

#[test]
fn nothing_in_a_hostile_spec_runs() {
    let marker = tempfile::tempdir().unwrap();
    let target = marker.path().join("pwned");
    let hostile = format!("$(touch {0})`touch {0}`", target.display());
    let r = rendered(&hostile, &hostile, std::slice::from_ref(&hostile), &hostile);
    for activity in ["start", "show", "stop", "status", "nonsense"] {
        let _ = Command::new("bash")
            .args(["-c", &r.script, "script", activity])
            .output()
            .unwrap();
    }
    assert!(!target.exists(), "a user string was executed");
}

#[test]
fn variables_the_environment_exports_keep_their_values() {
    // The script names its repeated values PROGRAM, PIDFILE, RUN_AS (and WRAPPER); a
    // description exporting one of these names itself gets its value, and the commands
    // get theirs.
    let r = render_value(&json!({
        "name": "probe",
        "process": "/bin/probe",
        "user": "probe",
        "environment": {"PROGRAM": "their program", "PIDFILE": "their pid file", "RUN_AS": "them"},
        "activities": {"show": "printf 'ENV\\0%s\\0%s\\0%s\\0' \"$PROGRAM\" \"$PIDFILE\" \"$RUN_AS\""},
        "config": {"initialInstructions": ECHO_FUNCTIONS, "startDaemon": "print_words"}
    }))
    .unwrap();
    let start = run(&r.script, "start");
    assert_eq!(
        &start[2..8],
        ["WORDS", "-p", "/tmp/probe.pid", "-u", "probe", "/bin/probe"]
    );
    let show = run(&r.script, "show");
    assert_eq!(
        &show[..4],
        ["ENV", "their program", "their pid file", "them"]
    );
}
