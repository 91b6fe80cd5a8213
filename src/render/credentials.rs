//! Credential files: one file per group and per user, as `key='value'` lines.
//!
//! The values are quoted with [`shell::single_quote`](super::shell::single_quote) so that a consumer that
//! sources the file expands nothing, and a consumer that parses it (the switch tool) reads
//! POSIX single-quote rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::shell::single_quote;
use crate::spec::Credentials;

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
    let file = |fields: &BTreeMap<String, String>| -> String {
        fields
            .iter()
            .map(|(key, value)| format!("{key}={}\n", single_quote(value)))
            .collect()
    };
    CredentialFiles {
        groups: credentials
            .groups
            .iter()
            .map(|(name, fields)| (name.clone(), file(fields)))
            .collect(),
        users: credentials
            .users
            .iter()
            .map(|(name, fields)| (name.clone(), file(fields)))
            .collect(),
    }
}
