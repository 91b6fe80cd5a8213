//! The checks of a profile's credential files that run before anything stops (and
//! again under the registry's lock, before anything is created): privileged accounts
//! need the opt-in, and the ids the files give are numbers nobody else holds.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{IdConflict, IdHolder};
use super::ids::{id_key, map_file, IdRecord};
use super::tool::{account_by_id, exists, group_name};
use super::{AccountError, AccountStore, Kind, Result, Wanted};
use crate::deploy::profile::Profile;
use crate::spec::privileged_credential;
use crate::tree::credentials::{allows_privileged, Fields};

/// Refuses a credential file that would make its account privileged (see
/// [`privileged_credential`]) unless it carries `allowPrivilegedCredentials=1`.
pub(super) fn check_privileged(kind: Kind, name: &str, fields: &Fields, path: &Path) -> Result<()> {
    if allows_privileged(fields) {
        return Ok(());
    }
    match privileged_credential(kind.directory(), name, fields, &group_name) {
        None => Ok(()),
        Some((key, what)) => Err(AccountError::Privileged {
            path: path.to_path_buf(),
            key,
            what,
        }),
    }
}

/// The id (`uid` of a user, `gid` of a group) the credential file `file` of account
/// `name` gives, if it gives one; an error when it is not a number.
pub(super) fn given_id(
    kind: Kind,
    name: &str,
    fields: &Fields,
    file: &Path,
) -> Result<Option<u32>> {
    let key = id_key(kind);
    let Some(value) = fields.get(key) else {
        return Ok(None);
    };
    value
        .trim()
        .parse()
        .map(Some)
        .map_err(|_| AccountError::BadId {
            file: file.to_path_buf(),
            kind: kind.word(),
            key,
            account: name.to_string(),
            value: value.clone(),
        })
}

/// Refuses what `wanted` (the credential files of `profile`) cannot create as it asks:
/// a privileged account without the opt-in, or, for an account that does not exist
/// yet, an id that is not a number, that another account has, that another file of the
/// profile gives too, or that the record of ids holds for another name. The record is
/// `record` when given (the caller holds the lock), else it is read from `store` when
/// a file gives an id.
pub(super) fn check_all(
    profile: &Profile,
    wanted: &Wanted,
    store: &AccountStore,
    record: Option<&IdRecord>,
) -> Result<()> {
    for kind in [Kind::Group, Kind::User] {
        for (name, fields) in wanted.of(kind) {
            check_privileged(kind, name, fields, &kind.files(profile)[name])?;
        }
    }
    let mut read = None;
    for kind in [Kind::Group, Kind::User] {
        let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
        for (name, fields) in wanted.of(kind) {
            let file = &kind.files(profile)[name];
            let Some(id) = given_id(kind, name, fields, file)? else {
                continue;
            };
            if exists(kind.database(), name) {
                continue;
            }
            let conflict = |other: &str, holder: IdHolder| {
                conflict(profile, kind, name, file, id, other, holder)
            };
            if let Some(other) = seen.insert(id, name) {
                return Err(conflict(
                    other,
                    IdHolder::Profile(kind.files(profile)[other].clone()),
                ));
            }
            if let Some(other) = account_by_id(kind, id).filter(|o| o != name) {
                return Err(conflict(&other, IdHolder::Account));
            }
            let record = match record {
                Some(r) => r,
                None => read.get_or_insert(store.peek_ids()?),
            };
            if let Some(other) = record.other_holder(kind, id, name) {
                let map = store.registry_dir().join(map_file(kind));
                return Err(conflict(other, IdHolder::Record(map)));
            }
        }
    }
    Ok(())
}

/// The error for the id `id` that the credential file `file` gives account `name` of
/// `kind` and that `other` holds (`holder` says where).
fn conflict(
    profile: &Profile,
    kind: Kind,
    name: &str,
    file: &Path,
    id: u32,
    other: &str,
    holder: IdHolder,
) -> AccountError {
    let processes = match kind {
        Kind::User => profile
            .processes
            .values()
            .filter(|p| p.user.as_deref() == Some(name))
            .map(|p| p.name.clone())
            .collect(),
        Kind::Group => Vec::new(),
    };
    AccountError::IdConflict(Box::new(IdConflict {
        file: file.to_path_buf(),
        kind: kind.word(),
        key: id_key(kind),
        id,
        account: name.to_string(),
        processes,
        other: other.to_string(),
        holder,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::credentials;

    #[test]
    fn privileged_credential_files_need_the_opt_in() {
        let file = Path::new("users/svc");
        let fields = |text: &str| credentials::parse(text).unwrap();
        let e = check_privileged(Kind::User, "svc", &fields("extraGroups=users,sudo\n"), file)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("profile users/svc: `extraGroups` puts user 'svc' in the privileged group 'sudo'; if that is intended, add the line allowPrivilegedCredentials=1 to the file"),
            "{e}"
        );
        let e = check_privileged(Kind::User, "svc", &fields("group=0\n"), file)
            .unwrap_err()
            .to_string();
        assert!(e.contains("privileged group 'root'"), "{e}");
        let e = check_privileged(Kind::User, "svc", &fields("uid=0\n"), file)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`uid` gives user 'svc' uid 0"), "{e}");
        let e = check_privileged(Kind::Group, "wheel", &fields(""), file)
            .unwrap_err()
            .to_string();
        assert!(e.contains(": creates the privileged group 'wheel'"), "{e}");
        assert!(check_privileged(
            Kind::User,
            "svc",
            &fields("extraGroups=sudo\nallowPrivilegedCredentials='1'\n"),
            file
        )
        .is_ok());
        assert!(check_privileged(Kind::User, "svc", &fields("extraGroups=users\n"), file).is_ok());
    }

    #[test]
    fn given_ids_must_be_numbers() {
        let file = Path::new("users/svc");
        let fields = |text: &str| credentials::parse(text).unwrap();
        let given = |text: &str| given_id(Kind::User, "svc", &fields(text), file);
        assert_eq!(given("uid=' 990'\n").unwrap(), Some(990));
        assert_eq!(given("gid=5\n").unwrap(), None);
        let e = given("uid=web\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "profile users/svc: `uid` of user 'svc' is 'web', not a number"
        );
    }

    #[test]
    fn an_id_conflict_names_the_file_the_account_its_processes_and_the_holder() {
        let mut profile = Profile::default();
        for (name, user) in [("web1", "svc"), ("web2", "svc"), ("db", "db")] {
            profile.processes.insert(
                name.to_string(),
                crate::deploy::profile::Process {
                    name: name.to_string(),
                    user: Some(user.to_string()),
                    ..Default::default()
                },
            );
        }
        let file = Path::new("/p/dysnomia-support/users/svc");
        let e = conflict(
            &profile,
            Kind::User,
            "svc",
            file,
            990,
            "other",
            IdHolder::Account,
        );
        assert_eq!(
            e.to_string(),
            "profile /p/dysnomia-support/users/svc: `uid` 990 of user 'svc' (the account of processes `web1`, `web2`) belongs to user 'other' already; give 'svc' another uid, or none to have one chosen"
        );
        let map = Path::new("/r/gid-map").to_path_buf();
        let e = conflict(
            &profile,
            Kind::Group,
            "svc",
            file,
            990,
            "old",
            IdHolder::Record(map),
        );
        assert!(
            e.to_string().contains("`gid` 990 of group 'svc' is recorded for group 'old' in /r/gid-map, and this tool never gives"),
            "{e}"
        );
    }
}
