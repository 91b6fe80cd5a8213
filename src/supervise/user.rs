//! The account a supervisor runs as (`--user`): looked up once, and taken on at once when
//! the supervisor starts as root, before it opens any file.

use std::ffi::{CStr, CString};

use super::sys::cvt;
use super::SuperviseError;

/// A user account with its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user name.
    pub name: String,
    /// Its uid.
    pub uid: libc::uid_t,
    /// Its primary gid.
    pub gid: libc::gid_t,
    /// Every group it is a member of, the primary one included.
    pub groups: Vec<libc::gid_t>,
}

/// Looks up `name` in the password database (and its groups in the group database).
pub fn lookup(name: &str) -> Result<Account, SuperviseError> {
    let unknown = || SuperviseError::UnknownUser(name.to_string());
    let cname = CString::new(name).map_err(|_| unknown())?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    loop {
        // SAFETY: passwd is plain data that getpwnam_r fills; the buffer it points
        // into is `buf`, which outlives every use of the result below.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 {
            let error = std::io::Error::from_raw_os_error(rc);
            return Err(SuperviseError::UserLookup(name.to_string(), error));
        }
        if result.is_null() {
            return Err(unknown());
        }
        let groups = group_list(&cname, pwd.pw_gid);
        return Ok(Account {
            name: name.to_string(),
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
            groups,
        });
    }
}

/// The groups of the user `name` whose primary group is `gid` (getgrouplist).
fn group_list(name: &CStr, gid: libc::gid_t) -> Vec<libc::gid_t> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut n = groups.len() as libc::c_int;
        // SAFETY: getgrouplist writes at most `n` gids into `groups` and the count into
        // `n`; the name is NUL-terminated.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n.max(0) as usize);
            return groups;
        }
        if groups.len() >= 1 << 16 {
            return vec![gid];
        }
        let wanted = (n.max(0) as usize).max(groups.len() * 2);
        groups.resize(wanted, 0);
    }
}

/// Runs as `account` from now on: as root, sets the groups, gid and uid and checks that
/// root's rights cannot be taken back; as another user, only `account` itself is
/// allowed (nothing changes).
pub fn become_user(account: &Account) -> Result<(), SuperviseError> {
    // SAFETY: getuid/geteuid have no preconditions.
    let (uid, euid) = unsafe { (libc::getuid(), libc::geteuid()) };
    if euid != 0 {
        if account.uid == uid && account.uid == euid {
            return Ok(());
        }
        return Err(SuperviseError::NotPermitted {
            user: account.name.clone(),
            uid: euid,
        });
    }
    let step = |what: &'static str, rc: libc::c_int| {
        cvt(rc)
            .map(drop)
            .map_err(|e| SuperviseError::Privileges(account.name.clone(), what, e))
    };
    // SAFETY: setgroups reads `groups.len()` gids from the vector.
    step("setgroups", unsafe {
        libc::setgroups(account.groups.len(), account.groups.as_ptr())
    })?;
    // SAFETY: setgid and setuid take integers.
    step("setgid", unsafe { libc::setgid(account.gid) })?;
    // SAFETY: as above.
    step("setuid", unsafe { libc::setuid(account.uid) })?;
    verify(account)
}

/// Checks that the process runs as `account` alone and, unless that is root, cannot
/// become root again.
fn verify(account: &Account) -> Result<(), SuperviseError> {
    // SAFETY: these getters have no preconditions; setuid(0) is expected to fail.
    let (uid, euid, gid, egid, back) = unsafe {
        let ids = (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        );
        let back = account.uid != 0 && libc::setuid(0) == 0;
        (ids.0, ids.1, ids.2, ids.3, back)
    };
    if uid != account.uid || euid != account.uid || gid != account.gid || egid != account.gid {
        return Err(SuperviseError::PrivilegesKept(format!(
            "{} (uid {uid}, euid {euid}, gid {gid}, egid {egid})",
            account.name
        )));
    }
    if back {
        return Err(SuperviseError::PrivilegesKept(format!(
            "{}: root's rights could be taken back",
            account.name
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_found_with_its_groups() {
        let root = lookup("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0), "{root:?}");
    }

    #[test]
    fn an_unknown_user_is_named() {
        let err = lookup("no-such-user-here").unwrap_err().to_string();
        assert!(err.contains("no-such-user-here"), "{err}");
        assert!(lookup("nul\0byte").is_err());
    }
}
