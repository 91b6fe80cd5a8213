//! What a switch takes in before anything stops: every declared secret with its
//! contents as the chosen input gives them, its path and its accounts checked.

use std::path::Path;

use super::{declared, read_payload, read_sources, Payload, SecretError, Wanted};
use crate::deploy::accounts;
use crate::deploy::profile::Profile;
use crate::tree::layout::SECRETS_DIR;
use crate::tree::manifest::ManifestSecret;

/// Where a switch takes the contents of the secrets it places from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SecretInput {
    /// Each secret's `source`, read on this machine (a switch run where it deploys).
    #[default]
    Sources,
    /// The deploying machine's, as one line on standard input (`--secrets-from stdin`).
    Stdin,
    /// None: the files already in place stay as they are (a rollback on another host:
    /// the sources are not there).
    Keep,
}

/// The secrets of `profile` with their contents, taken as `input` says. Every error
/// (a source missing or unreadable, a secret not sent, with `Keep` a file not in place,
/// a path that is not a secret's) comes before anything changes.
pub fn gather(profile: &Profile, input: SecretInput) -> Result<Vec<Wanted>, SecretError> {
    if declared(profile).next().is_none() {
        return Ok(Vec::new());
    }
    let mut payload = match input {
        SecretInput::Sources => read_sources(profile)?,
        SecretInput::Stdin => read_payload(std::io::stdin().lock())?,
        SecretInput::Keep => Payload::new(),
    };
    let mut wanted = Vec::new();
    for (process, secret) in declared(profile) {
        check_path(process, secret)?;
        let contents = payload
            .get_mut(process)
            .and_then(|s| s.remove(&secret.name));
        match (input, &contents) {
            (SecretInput::Keep, _) if !Path::new(&secret.path).exists() => {
                return Err(SecretError::NotPlaced {
                    process: process.to_string(),
                    name: secret.name.clone(),
                    path: secret.path.clone().into(),
                })
            }
            (SecretInput::Sources | SecretInput::Stdin, None) => {
                return Err(SecretError::NotSent {
                    process: process.to_string(),
                    name: secret.name.clone(),
                })
            }
            _ => {}
        }
        wanted.push(Wanted {
            process: process.to_string(),
            secret: secret.clone(),
            contents,
        });
    }
    Ok(wanted)
}

/// Refuses a manifest path that is not `.../nixproc-sysvinit-secrets/PROCESS/NAME`
/// (absolute, without `..`): root writes there.
pub(super) fn check_path(process: &str, secret: &ManifestSecret) -> Result<(), SecretError> {
    let path = Path::new(&secret.path);
    let names: Vec<_> = path.components().collect();
    let tail: Vec<String> = names
        .iter()
        .rev()
        .take(3)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let plain = names.iter().all(|c| {
        matches!(
            c,
            std::path::Component::RootDir | std::path::Component::Normal(_)
        )
    });
    if path.is_absolute() && plain && tail == [secret.name.as_str(), process, SECRETS_DIR] {
        Ok(())
    } else {
        Err(SecretError::Path {
            process: process.to_string(),
            name: secret.name.clone(),
            path: secret.path.clone(),
        })
    }
}

/// Refuses an owner or group of a secret that neither exists nor is created by
/// `profile` (its credential files), before anything stops.
pub fn check_accounts(wanted: &[Wanted], profile: &Profile) -> Result<(), SecretError> {
    for w in wanted {
        let checks = [
            ("owner", w.secret.owner.as_ref(), &profile.users, "passwd"),
            ("group", w.secret.group.as_ref(), &profile.groups, "group"),
        ];
        for (kind, account, made, database) in checks {
            let Some(account) = account else { continue };
            if !made.contains_key(account) && !accounts::exists(database, account) {
                return Err(SecretError::Account {
                    process: w.process.clone(),
                    name: w.secret.name.clone(),
                    kind,
                    account: account.clone(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(path: &str) -> ManifestSecret {
        ManifestSecret {
            name: "db".into(),
            source: "/keys/db".into(),
            path: path.into(),
            owner: None,
            group: None,
            mode: "0400".into(),
            variable: "SECRET_DB".into(),
        }
    }

    #[test]
    fn only_a_secrets_own_path_is_written() {
        assert!(check_path("web", &secret("/run/nixproc-sysvinit-secrets/web/db")).is_ok());
        for bad in [
            "/etc/shadow",
            "/run/nixproc-sysvinit-secrets/other/db",
            "/run/nixproc-sysvinit-secrets/web/../web/db",
            "run/nixproc-sysvinit-secrets/web/db",
            "/run/nixproc-sysvinit-secrets/web/db/x",
        ] {
            assert!(check_path("web", &secret(bad)).is_err(), "{bad}");
        }
    }
}
