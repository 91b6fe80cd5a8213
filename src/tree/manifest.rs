//! The per-process manifest (`share/nixproc-sysvinit/processes/NAME.json`): what the
//! switch tool needs to know about a process without running anything.
//!
//! The renderer writes it with [`Manifest::to_json`]; the switch tool reads it with
//! [`Manifest::from_json`], which is lenient where the switch can be: every attribute
//! may be missing (manifests of older versions lack `logFile`; hand-made and test
//! profiles often hold no more than `name`, `sequence` and `dependencies`), unknown
//! attributes are ignored, and an attribute the switch does not use reads as missing when
//! its value has another type. The attributes it does use are checked: `dependencies`
//! is a list of names (or of objects with a `name`, as other generators write them) or
//! `null`, `user` is a name or `null`. A manifest that is valid JSON but not an object
//! reads as an empty one.

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The readiness check as recorded in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestReadiness {
    /// TCP port that must accept connections.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tcp_port: Option<u16>,
    /// Host of the TCP check.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tcp_host: Option<String>,
    /// Command that must succeed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub command: Option<String>,
    /// Seconds before the start counts as failed.
    pub timeout: u32,
}

/// The respawn policy as recorded in a manifest (times in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestRespawn {
    /// Milliseconds between an exit and the restart.
    pub delay_ms: u64,
    /// Restarts allowed within the window.
    pub attempts: u32,
    /// Milliseconds over which exits are counted.
    pub window_ms: u64,
    /// Milliseconds the first run must last for the start to succeed.
    pub settle_ms: u64,
}

/// The log rotation as recorded in a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestLogRotate {
    /// Bytes past which the log is rotated.
    pub max_size: u64,
    /// Rotated files kept (`LOG.1` .. `LOG.KEEP`).
    pub keep: u32,
}

/// A secret as recorded in a manifest: where it comes from and where it goes, never
/// what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestSecret {
    /// Its name (the file name of the placed file).
    pub name: String,
    /// The file on the deploying machine.
    pub source: String,
    /// Where the switch places it.
    pub path: String,
    /// Its owner (`None`: the user running the switch).
    #[serde(default)]
    pub owner: Option<String>,
    /// Its group (`None`: the owner's primary group).
    #[serde(default)]
    pub group: Option<String>,
    /// Its permission bits, in octal ("0400").
    pub mode: String,
    /// The variable the script exports with `path`.
    pub variable: String,
}

/// Facts about one process, stored as JSON next to its script. The attributes are
/// written in this order, in camelCase, `null` for a missing value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Manifest {
    /// Process (script) name.
    #[serde(deserialize_with = "lenient")]
    pub name: String,
    /// Start sequence number.
    #[serde(deserialize_with = "lenient")]
    pub sequence: u32,
    /// Stop sequence number.
    #[serde(deserialize_with = "lenient")]
    pub stop_sequence: u32,
    /// Names of the processes this one starts after.
    #[serde(deserialize_with = "dependency_names")]
    pub dependencies: Vec<String>,
    /// Runlevels with start links.
    #[serde(deserialize_with = "lenient")]
    pub runlevels: Vec<u8>,
    /// PID file, if the process has one.
    #[serde(deserialize_with = "lenient")]
    pub pid_file: Option<String>,
    /// File that receives a foreground process's output, if any.
    #[serde(deserialize_with = "lenient")]
    pub log_file: Option<String>,
    /// Log files the program writes itself (`logFiles`), rotated by the tree's logrotate
    /// configuration.
    #[serde(deserialize_with = "lenient")]
    pub log_files: Vec<String>,
    /// User the process runs as.
    #[serde(deserialize_with = "user_name")]
    pub user: Option<String>,
    /// Activities the script implements, in script order.
    #[serde(deserialize_with = "lenient")]
    pub activities: Vec<String>,
    /// Readiness check of `start`.
    #[serde(deserialize_with = "lenient")]
    pub readiness: Option<ManifestReadiness>,
    /// Whether the program daemonizes itself.
    #[serde(deserialize_with = "lenient")]
    pub process_is_daemon: bool,
    /// The managed program, if any.
    #[serde(deserialize_with = "lenient")]
    pub process: Option<String>,
    /// The service it is tracked as (`KEY/NAME`: its cgroup `nixproc-sysvinit/KEY/NAME`).
    #[serde(deserialize_with = "lenient")]
    pub service: Option<String>,
    /// Its respawn policy (foreground processes under the supervisor).
    #[serde(deserialize_with = "lenient")]
    pub respawn: Option<ManifestRespawn>,
    /// The rotation of its log.
    #[serde(deserialize_with = "lenient")]
    pub log_rotate: Option<ManifestLogRotate>,
    /// Its limits as the library takes them, by name (`"nofile": "1024:4096"`).
    #[serde(deserialize_with = "lenient")]
    pub limits: std::collections::BTreeMap<String, String>,
    /// Its secrets, by name order.
    #[serde(deserialize_with = "lenient")]
    pub secrets: Vec<ManifestSecret>,
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The text is not JSON.
    #[error("is not valid JSON: {0}")]
    Json(serde_json::Error),
    /// An attribute the switch uses has a wrong value.
    #[error("{0}")]
    Invalid(String),
}

impl Manifest {
    /// The manifest file's text: pretty-printed JSON and a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .expect("a manifest of strings and numbers always serialises");
        text.push('\n');
        text
    }

    /// Reads a manifest file's text (see the module documentation for what is accepted).
    pub fn from_json(text: &str) -> Result<Manifest, ManifestError> {
        let value: Value = serde_json::from_str(text).map_err(ManifestError::Json)?;
        if !value.is_object() {
            return Ok(Manifest::default());
        }
        serde_json::from_value(value).map_err(|e| ManifestError::Invalid(e.to_string()))
    }
}

/// Any value of the right type, else the default (for attributes the switch ignores).
fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    let value = Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// `dependencies`: a list of names or of objects with a `name`; `null` for none.
fn dependency_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    const NOT_A_LIST: &str = "attribute `dependencies` must be a list of names";
    let items = match Value::deserialize(deserializer)? {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(D::Error::custom(NOT_A_LIST)),
    };
    let name = |item: Value| match item {
        Value::String(name) => Ok(name),
        Value::Object(object) => match object.get("name") {
            Some(Value::String(name)) => Ok(name.clone()),
            _ => Err(D::Error::custom(
                "attribute `dependencies` holds an object without `name`",
            )),
        },
        _ => Err(D::Error::custom(NOT_A_LIST)),
    };
    items.into_iter().map(name).collect()
}

/// `user`: a name, or `null` for none.
fn user_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(user) => Ok(Some(user)),
        _ => Err(D::Error::custom("attribute `user` must be a name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Manifest, String> {
        Manifest::from_json(text).map_err(|e| e.to_string())
    }

    #[test]
    fn what_is_written_reads_back() {
        let manifest = Manifest {
            name: "web".into(),
            sequence: 2,
            stop_sequence: 97,
            dependencies: vec!["db".into()],
            runlevels: vec![3, 4],
            pid_file: Some("/run/web.pid".into()),
            log_file: None,
            log_files: vec!["/var/log/web/access.log".into()],
            user: Some("web".into()),
            secrets: vec![ManifestSecret {
                name: "token".into(),
                source: "/etc/keys/web-token".into(),
                path: "/run/nixproc-sysvinit-secrets/web/token".into(),
                owner: Some("web".into()),
                group: None,
                mode: "0400".into(),
                variable: "SECRET_TOKEN".into(),
            }],
            activities: vec!["start".into(), "stop".into()],
            readiness: Some(ManifestReadiness {
                tcp_port: Some(80),
                tcp_host: Some("localhost".into()),
                command: None,
                timeout: 5,
            }),
            process_is_daemon: false,
            process: Some("/bin/web".into()),
            service: Some("var-run/web".into()),
            respawn: Some(ManifestRespawn {
                delay_ms: 1000,
                attempts: 5,
                window_ms: 60000,
                settle_ms: 0,
            }),
            log_rotate: Some(ManifestLogRotate {
                max_size: 1024,
                keep: 2,
            }),
            limits: [("nofile".to_string(), "64:128".to_string())].into(),
        };
        let text = manifest.to_json();
        assert!(
            text.ends_with("}\n") && text.contains("\n  \"logFile\": null,\n"),
            "{text}"
        );
        assert_eq!(Manifest::from_json(&text).unwrap(), manifest);
    }

    #[test]
    fn partial_and_older_manifests_are_read() {
        let m = read(r#"{"name":"a","sequence":1,"dependencies":["b"],"runlevels":[3]}"#);
        assert_eq!(m.unwrap().dependencies, ["b"]);
        let m = read(r#"{"dependencies":[{"name":"b","sequence":1},"c"],"user":"u"}"#).unwrap();
        assert_eq!(
            (m.dependencies, m.user),
            (vec!["b".into(), "c".into()], Some("u".into()))
        );
        let m = read(r#"{"dependencies":null,"user":null,"sequence":"x","readiness":7}"#);
        assert_eq!(m.unwrap(), Manifest::default());
        assert_eq!(read("[1, 2]").unwrap(), Manifest::default());
    }

    #[test]
    fn what_the_switch_uses_is_checked() {
        let list = "attribute `dependencies` must be a list of names";
        assert_eq!(read(r#"{"dependencies":"b"}"#).unwrap_err(), list);
        assert_eq!(read(r#"{"dependencies":[1]}"#).unwrap_err(), list);
        assert_eq!(
            read(r#"{"dependencies":[{"id":"b"}]}"#).unwrap_err(),
            "attribute `dependencies` holds an object without `name`"
        );
        assert_eq!(
            read(r#"{"user":3}"#).unwrap_err(),
            "attribute `user` must be a name"
        );
        assert!(read("{").unwrap_err().starts_with("is not valid JSON: "));
    }
}
