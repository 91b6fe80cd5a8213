//! The credential files of a process: one file per group and per user, in the format of
//! [`crate::tree::credentials`].
//!
//! A file whose account would be privileged (see [`crate::spec::privileged_credential`])
//! exists only when the process opted in, and then carries the line
//! `allowPrivilegedCredentials='1'`, which the switch tool requires before it creates
//! such an account.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::spec::{privileged_credential, Credentials};
use crate::tree::credentials::{self as format, Fields, ALLOW_PRIVILEGED_VALUE};

pub use crate::tree::credentials::ALLOW_PRIVILEGED_KEY;

/// The rendered credential files, by group and user name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialFiles {
    /// Group name → file text (`dysnomia-support/groups/NAME`).
    pub groups: BTreeMap<String, String>,
    /// User name → file text (`dysnomia-support/users/NAME`).
    pub users: BTreeMap<String, String>,
}

impl CredentialFiles {
    /// True when there is no file to write.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.users.is_empty()
    }
}

/// Renders the credential files of a process.
pub fn render(credentials: &Credentials) -> CredentialFiles {
    let file = |kind: &str, name: &str, fields: &Fields| -> String {
        if credentials.allow_privileged
            && privileged_credential(kind, name, fields, &|_| None).is_some()
        {
            let mut fields = fields.clone();
            fields.insert(ALLOW_PRIVILEGED_KEY.into(), ALLOW_PRIVILEGED_VALUE.into());
            return format::write(&fields);
        }
        format::write(fields)
    };
    let files = |kind: &str, accounts: &BTreeMap<String, Fields>| {
        accounts
            .iter()
            .map(|(name, fields)| (name.clone(), file(kind, name, fields)))
            .collect()
    };
    // The kinds as `privileged_credential` names them: the attributes of `credentials`.
    CredentialFiles {
        groups: files("groups", &credentials.groups),
        users: files("users", &credentials.users),
    }
}
