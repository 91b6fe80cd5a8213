//! `secrets`: files a process needs that must never enter the Nix store. The description
//! names each one's source on the deploying machine; the switch copies it into
//! `runtimeDir/nixproc-sysvinit-secrets/PROCESS/NAME` with its owner and mode before
//! the process starts, and the script exports that path in a variable.

use std::collections::BTreeMap;

use serde_json::Value;

use super::names::{check_name, NameKind};
use super::parse::Attrs;
use crate::error::Result;

/// The attributes of one secret.
pub const SECRET_ATTRIBUTES: &[&str] = &["source", "owner", "group", "mode", "variable"];

/// The mode a secret file gets unless the description says otherwise.
pub const DEFAULT_SECRET_MODE: u32 = 0o400;

/// Where the Nix store is: a source there is readable by every user of the machine.
const STORE_DIR: &str = "/nix/store/";

/// One secret of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// The file on the deploying machine it is read from (an absolute path outside the
    /// store).
    pub source: String,
    /// The owner of the placed file (`None`: the process's `user`, else the deploying
    /// user).
    pub owner: Option<String>,
    /// Its group (`None`: the owner's primary group).
    pub group: Option<String>,
    /// Its permission bits (no bits for others).
    pub mode: u32,
    /// The variable the script exports with the placed file's path.
    pub variable: String,
}

/// The default variable of secret `name`: `SECRET_` and the name in capitals, every
/// character but letters and digits as `_` (`db-password` → `SECRET_DB_PASSWORD`).
pub fn default_variable(name: &str) -> String {
    let tail: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SECRET_{tail}")
}

/// Parses `secrets` (an attribute set of secrets by name); `environment` is the
/// process's own, whose names a secret's variable must not take.
pub(super) fn parse_secrets(
    attrs: &Attrs,
    environment: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Secret>> {
    let mut secrets = BTreeMap::new();
    let Some(set) = attrs.opt_nested("secrets")? else {
        return Ok(secrets);
    };
    let mut variables: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in set.map_entries() {
        check_name(&set, name, name, NameKind::Secret)?;
        let entry = set.nested(name, value)?;
        let secret = parse_secret(&entry, name)?;
        if environment.contains_key(&secret.variable) {
            return Err(entry.invalid(
                "variable",
                format!(
                    "{} is also set by `environment`; give the secret another `variable`",
                    secret.variable
                ),
            ));
        }
        if let Some(other) = variables.insert(secret.variable.clone(), name.clone()) {
            return Err(entry.invalid(
                "variable",
                format!(
                    "{} is also the variable of secret '{other}'; give one of them another `variable`",
                    secret.variable
                ),
            ));
        }
        secrets.insert(name.clone(), secret);
    }
    Ok(secrets)
}

/// One secret's attribute set.
fn parse_secret(entry: &Attrs, name: &str) -> Result<Secret> {
    entry.check_known(SECRET_ATTRIBUTES)?;
    let source = match entry.opt_string("source")? {
        Some(source) => source,
        None => {
            return Err(entry.invalid(
                "source",
                "is missing: give the path of the file on the deploying machine, as a string"
                    .into(),
            ))
        }
    };
    check_source(entry, &source)?;
    let owner = entry.opt_string("owner")?;
    let group = entry.opt_string("group")?;
    for (key, account) in [("owner", &owner), ("group", &group)] {
        if let Some(account) = account {
            check_name(entry, key, account, NameKind::Account)?;
        }
    }
    let mode = match entry.get("mode") {
        None | Some(Value::Null) => DEFAULT_SECRET_MODE,
        Some(_) => parse_mode(entry)?,
    };
    let variable = entry
        .opt_string("variable")?
        .unwrap_or_else(|| default_variable(name));
    check_name(entry, "variable", &variable, NameKind::Variable)?;
    Ok(Secret {
        source,
        owner,
        group,
        mode,
        variable,
    })
}

/// A source is an absolute path of one line, outside the Nix store.
fn check_source(entry: &Attrs, source: &str) -> Result<()> {
    let problem = if !source.starts_with('/') {
        Some("is not an absolute path (write the path on the deploying machine as a string, e.g. \"/etc/keys/db\")")
    } else if source.starts_with(STORE_DIR) {
        Some("is in the Nix store, which every user can read: keep the secret outside it and write its path as a string, not as a Nix path")
    } else if source.contains(['\n', '\r', '\0']) {
        Some("holds a line break")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(entry.invalid("source", format!("{source:?} {why}"))),
    }
}

/// `mode`: octal digits as a string ("0400", "440") or a number written in octal's
/// digits; no bits for others and none above the permission bits.
fn parse_mode(entry: &Attrs) -> Result<u32> {
    let text = match entry.get("mode") {
        Some(Value::Number(n)) => n.to_string(),
        _ => entry.opt_string("mode")?.unwrap_or_default(),
    };
    let mode = (!text.is_empty() && text.len() <= 4)
        .then(|| u32::from_str_radix(&text, 8).ok())
        .flatten()
        .filter(|m| *m <= 0o777);
    match mode {
        None => Err(entry.invalid(
            "mode",
            format!("{text:?} is not a file mode (octal digits, e.g. \"0400\" or \"0440\")"),
        )),
        Some(m) if m & 0o007 != 0 => Err(entry.invalid(
            "mode",
            format!("{text:?} lets every user of the machine at the secret; give others no rights (e.g. \"0440\" with a `group`)"),
        )),
        Some(m) if m & 0o400 == 0 => Err(entry.invalid(
            "mode",
            format!("{text:?} does not let the owner read the secret"),
        )),
        Some(m) => Ok(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_variables_are_capitals_with_underscores() {
        assert_eq!(default_variable("db-password"), "SECRET_DB_PASSWORD");
        assert_eq!(default_variable("tls.key"), "SECRET_TLS_KEY");
        assert_eq!(default_variable("token"), "SECRET_TOKEN");
    }
}
