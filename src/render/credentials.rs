//! Credential files: one file per group and per user, as `key='value'` lines.
//!
//! A file whose account would be privileged (see [`crate::spec::privileged_credential`])
//! exists only when the process opted in, and then carries the line
//! `allowPrivilegedCredentials='1'`, which the switch tool requires before it creates
//! such an account.
//!
//! The values are quoted with [`shell::single_quote`](super::shell::single_quote) so that a consumer that
//! sources the file expands nothing, and a consumer that parses it (the switch tool) reads
//! POSIX single-quote rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::shell::single_quote;
use crate::spec::{privileged_credential, Credentials};

/// The key of a credential file saying its process opted in to a privileged account.
pub const ALLOW_PRIVILEGED_KEY: &str = "allowPrivilegedCredentials";

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
    let file = |kind: &str, name: &str, fields: &BTreeMap<String, String>| -> String {
        let mut fields = fields.clone();
        if credentials.allow_privileged
            && privileged_credential(kind, name, &fields, &|_| None).is_some()
        {
            fields.insert(ALLOW_PRIVILEGED_KEY.into(), "1".into());
        }
        fields
            .iter()
            .map(|(key, value)| format!("{key}={}\n", single_quote(value)))
            .collect()
    };
    let files = |kind: &str, accounts: &BTreeMap<String, BTreeMap<String, String>>| {
        accounts
            .iter()
            .map(|(name, fields)| (name.clone(), file(kind, name, fields)))
            .collect()
    };
    CredentialFiles {
        groups: files("groups", &credentials.groups),
        users: files("users", &credentials.users),
    }
}
