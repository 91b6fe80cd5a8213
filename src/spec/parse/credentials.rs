//! The `credentials` attribute: the groups and users a process needs, each field
//! checked the way `useradd` and Dysnomia read it, and privileged accounts refused
//! unless the process allows them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Attrs;
use crate::error::{Result, SpecError};
use crate::spec::attributes::{privileged_credential, CREDENTIAL_KINDS, GROUP_KEYS, USER_KEYS};
use crate::spec::names::{check_name, shown_name, NameKind};
use crate::spec::Credentials;

/// The `credentials` attribute set: groups and users by name, each entry's fields as
/// text. Without `allow_privileged`, an entry that would make its account privileged
/// is an error.
pub(super) fn parse_credentials(attrs: &Attrs, allow_privileged: bool) -> Result<Credentials> {
    let mut out = Credentials {
        allow_privileged,
        ..Credentials::default()
    };
    let Some(creds) = attrs.opt_nested("credentials")? else {
        return Ok(out);
    };
    creds.check_known(CREDENTIAL_KINDS)?;
    for (kind, keys, slot) in [
        ("groups", GROUP_KEYS, &mut out.groups),
        ("users", USER_KEYS, &mut out.users),
    ] {
        *slot = creds.opt_map(kind, |entries, account, value| {
            check_name(entries, account, account, NameKind::Account)?;
            let entry = entries.nested(account, value)?;
            let fields = parse_account_fields(&entry, keys)?;
            if !allow_privileged {
                refuse_privileged(kind, account, entries, &entry, &fields)?;
            }
            Ok(fields)
        })?;
    }
    Ok(out)
}

/// The fields of one group or user (`entry`), known `keys` only, each as text; `null`
/// leaves a field out. Group names in `group` and `extraGroups` are checked.
fn parse_account_fields(entry: &Attrs, keys: &[&str]) -> Result<BTreeMap<String, String>> {
    entry.check_known(keys)?;
    let mut fields = BTreeMap::new();
    for (key, value) in entry.map {
        let text = match value {
            Value::Null => continue,
            Value::Array(items) if key == "extraGroups" => extra_groups(entry, key, items.len())?,
            other => entry.scalar_value(key, other)?,
        };
        if key == "group" {
            check_name(entry, key, &text, NameKind::Account)?;
        }
        if PASSWD_FIELDS.contains(&key.as_str()) {
            check_passwd_field(entry, key, &text)?;
        }
        let text = if key == "createHomeDir" {
            create_home_dir(entry, key, &text)?
        } else {
            text
        };
        fields.insert(key.clone(), text);
    }
    if fields.get("createHomeDir").is_some_and(|v| v == "1") && !fields.contains_key("homeDir") {
        return Err(entry.invalid(
            "createHomeDir",
            "needs `homeDir` (without it Dysnomia gives the user the home /dev/null, \
             which it cannot create)"
                .into(),
        ));
    }
    Ok(fields)
}

/// The user fields that become fields of `/etc/passwd` (through `useradd`, ours and
/// Dysnomia's, which passes its arguments one per line).
const PASSWD_FIELDS: &[&str] = &["description", "homeDir", "shell"];

/// Refuses a `:` or a newline in a field of `/etc/passwd`: `useradd` refuses them, and
/// Dysnomia would split its argument at the newline.
fn check_passwd_field(entry: &Attrs, key: &str, text: &str) -> Result<()> {
    match text.chars().find(|c| matches!(c, ':' | '\n' | '\r')) {
        None => Ok(()),
        Some(c) => Err(entry.invalid(
            key,
            format!("{c:?} cannot be part of a field of /etc/passwd"),
        )),
    }
}

/// `createHomeDir` as `1` (yes) or nothing (no), the only spelling Dysnomia's
/// `dysnomia-addusers` reads as yes (it compares with `1`): `true`, `yes` and `1` in any
/// case mean yes, `false`, `no`, `0` and the empty string no.
fn create_home_dir(entry: &Attrs, key: &str, text: &str) -> Result<String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok("1".into()),
        "" | "0" | "false" | "no" => Ok(String::new()),
        _ => Err(entry.invalid(key, format!("{text:?} is neither yes nor no"))),
    }
}

/// The list of `extraGroups` (`count` items) as one comma-separated string, each name
/// checked.
fn extra_groups(entry: &Attrs, key: &str, count: usize) -> Result<String> {
    let names = entry.string_list(key)?;
    for name in &names {
        check_name(entry, key, name, NameKind::Account)?;
    }
    debug_assert_eq!(names.len(), count);
    Ok(names.join(","))
}

/// Fails when the fields of `account` (of `kind`, `groups` or `users`) would make it
/// privileged, naming the field at fault (or the entry itself).
fn refuse_privileged(
    kind: &str,
    account: &str,
    entries: &Attrs,
    entry: &Attrs,
    fields: &BTreeMap<String, String>,
) -> Result<()> {
    match privileged_credential(kind, account, fields, &|_| None) {
        None => Ok(()),
        Some((key, what)) => Err(SpecError::PrivilegedCredentials {
            process: shown_name(entries.process),
            attribute: match key {
                Some(key) => entry.path(key),
                None => entries.path(account),
            },
            what,
        }),
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::parse;
    use serde_json::json;

    #[test]
    fn user_fields_are_written_as_dysnomia_reads_them() {
        let user = |fields: serde_json::Value| {
            parse(&json!({"name": "web", "process": "/bin/web",
                "credentials": {"users": {"web": fields}}}))
        };
        let spec = user(json!({"homeDir": "/srv/web", "createHomeDir": "yes"})).unwrap();
        assert_eq!(spec.credentials.users["web"]["createHomeDir"], "1");
        let spec = user(json!({"createHomeDir": false})).unwrap();
        assert_eq!(spec.credentials.users["web"]["createHomeDir"], "");
        let e = user(json!({"createHomeDir": true}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("credentials.users.web.createHomeDir") && e.contains("homeDir"),
            "{e}"
        );
        let e = user(json!({"createHomeDir": "maybe"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("neither yes nor no"), "{e}");
        for key in ["description", "homeDir", "shell"] {
            for bad in ["a:b", "a\nb"] {
                let e = user(json!({ key: bad })).unwrap_err().to_string();
                assert!(e.contains(&format!("credentials.users.web.{key}")), "{e}");
            }
        }
    }
}
