//! Secrets: files a process needs that never enter the Nix store (`secrets` of a
//! description). The manifest of a process says where each one comes from (a file on
//! the deploying machine) and where it goes (`RUNTIME/nixproc-sysvinit-secrets/PROCESS/
//! NAME`), never what it holds.
//!
//! A switch [`gather`]s the contents before anything stops (a source that is missing or
//! unreadable fails the switch there), finds the processes whose files would change
//! ([`needing_restart`]: they restart even when their script is the same), [`place`]s
//! the files between the stops and the starts (each written beside the old one with its
//! owner and mode, then renamed over it; a failed switch puts the old ones back), and
//! once the profile has moved [`remove_obsolete`] deletes the files no process of the new
//! profile declares. The directories are root's (the deploying user's for a profile of
//! someone else): `nixproc-sysvinit-secrets` mode 0755, each process's 0711, so a user
//! reaches only a file whose name it knows and whose mode lets it.
//!
//! Contents travel from a deploying machine to a host on the standard input of the
//! host's switch ([`payload_line`], [`read_payload`]), never on a command line; they are
//! wiped from memory when dropped ([`Contents`]) and no message shows them.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::accounts;
use super::profile::Profile;
use super::safe_dir::{Ownership, SafeDir, SafeDirError};
use crate::tree::layout::{MANIFEST_DIR, MANIFEST_EXTENSION, SECRETS_DIR};
use crate::tree::manifest::{Manifest, ManifestSecret};

/// A secret's bytes, overwritten with zeros when dropped; its `Debug` shows the length.
pub struct Contents(Vec<u8>);

impl Contents {
    /// Takes `bytes` as a secret's contents.
    pub fn new(bytes: Vec<u8>) -> Contents {
        Contents(bytes)
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Contents {
    fn drop(&mut self) {
        for byte in self.0.iter_mut() {
            // SAFETY: a valid, aligned, exclusive reference to one byte; a volatile
            // write is not optimised away like a plain one before the free.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Contents({} bytes)", self.0.len())
    }
}

/// Secret contents by process name, then secret name.
pub type Payload = BTreeMap<String, BTreeMap<String, Contents>>;

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

/// Why the secrets of a profile could not be gathered, placed or removed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A source could not be read.
    #[error("process '{process}': secret '{name}': cannot read its source {source_path}: {error}")]
    Source {
        /// The process.
        process: String,
        /// The secret.
        name: String,
        /// The file on the deploying machine.
        source_path: String,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The deploying machine sent no contents for a secret.
    #[error("process '{process}': secret '{name}' was not sent by the deploying machine")]
    NotSent {
        /// The process.
        process: String,
        /// The secret.
        name: String,
    },
    /// With [`SecretInput::Keep`], a secret has no file yet.
    #[error("process '{process}': secret '{name}' has no file at {} and no contents came with this run; deploy the model (which sends it) instead", path.display())]
    NotPlaced {
        /// The process.
        process: String,
        /// The secret.
        name: String,
        /// Where its file should be.
        path: PathBuf,
    },
    /// An owner or group that neither exists nor is created by the profile.
    #[error("process '{process}': secret '{name}': {kind} '{account}' does not exist and the profile does not create it")]
    Account {
        /// The process.
        process: String,
        /// The secret.
        name: String,
        /// "owner" or "group".
        kind: &'static str,
        /// The account.
        account: String,
    },
    /// A manifest's path is not where secrets go.
    #[error("process '{process}': secret '{name}': {path} is not RUNTIME/{SECRETS_DIR}/{process}/{name}; refusing to write there")]
    Path {
        /// The process.
        process: String,
        /// The secret.
        name: String,
        /// The path the manifest gives.
        path: String,
    },
    /// A file or directory could not be written, read or removed safely.
    #[error("process '{process}': secret '{name}': {error}")]
    File {
        /// The process.
        process: String,
        /// The secret.
        name: String,
        /// What went wrong.
        error: SafeDirError,
    },
    /// A manifest of the profile could not be read.
    #[error("reading the secrets of {}: {why}", path.display())]
    Manifest {
        /// The manifest file (or its directory).
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The contents on standard input are not what the deploying machine writes.
    #[error("the secrets on standard input are not valid: {0}")]
    Payload(String),
}

/// One secret that is to be in place after the switch.
#[derive(Debug)]
pub struct Wanted {
    /// The process that uses it.
    pub process: String,
    /// Its manifest entry.
    pub secret: ManifestSecret,
    /// Its contents; `None` keeps the file in place.
    contents: Option<Contents>,
}

/// The secrets every process of `profile` declares, by process, as its manifest says.
fn declared(profile: &Profile) -> impl Iterator<Item = (&str, &ManifestSecret)> {
    profile
        .processes
        .values()
        .flat_map(|p| p.secrets.iter().map(move |s| (p.name.as_str(), s)))
}

/// Reads the source of every secret of `profile` on this machine.
pub fn read_sources(profile: &Profile) -> Result<Payload, SecretError> {
    let mut payload = Payload::new();
    for (process, secret) in declared(profile) {
        let bytes = read_source(&secret.source).map_err(|error| SecretError::Source {
            process: process.to_string(),
            name: secret.name.clone(),
            source_path: secret.source.clone(),
            error,
        })?;
        payload
            .entry(process.to_string())
            .or_default()
            .insert(secret.name.clone(), Contents::new(bytes));
    }
    Ok(payload)
}

/// Reads, on this machine, the source of every secret that a manifest of the profile
/// directory `root` declares, whatever its runlevels: what a deploying machine sends to
/// a host, whose switch takes the ones of its runlevel.
pub fn read_profile_sources(root: &Path) -> Result<Payload, SecretError> {
    let dir = root.join(MANIFEST_DIR);
    let manifest_error = |path: &Path, why: String| SecretError::Manifest {
        path: path.to_path_buf(),
        why,
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Payload::new()),
        Err(e) => return Err(manifest_error(&dir, e.to_string())),
    };
    let mut profile = Profile::default();
    for entry in entries {
        let path = entry
            .map_err(|e| manifest_error(&dir, e.to_string()))?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some(MANIFEST_EXTENSION) {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| manifest_error(&path, e.to_string()))?;
        let manifest =
            Manifest::from_json(&text).map_err(|e| manifest_error(&path, e.to_string()))?;
        if manifest.secrets.is_empty() {
            continue;
        }
        let process = super::profile::Process {
            name: manifest.name.clone(),
            secrets: manifest.secrets,
            ..super::profile::Process::default()
        };
        profile.processes.insert(manifest.name, process);
    }
    read_sources(&profile)
}

/// The bytes of a regular file (a FIFO or a device is refused, not waited on).
fn read_source(path: &str) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
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
fn check_path(process: &str, secret: &ManifestSecret) -> Result<(), SecretError> {
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

/// The uid, gid and mode the file of `w` gets; `None` when its owner or group does not
/// exist yet (the switch creates it).
fn file_owner(w: &Wanted) -> Option<Ownership> {
    let (uid, primary) = match &w.secret.owner {
        Some(owner) => accounts::user_ids(owner)?,
        // SAFETY: geteuid and getegid have no preconditions.
        None => unsafe { (libc::geteuid(), libc::getegid()) },
    };
    let gid = match &w.secret.group {
        Some(group) => accounts::group_id(group)?,
        None => primary,
    };
    let mode = u32::from_str_radix(&w.secret.mode, 8).unwrap_or(0o400) & 0o770;
    Some(Ownership { uid, gid, mode })
}

/// The directory of `w`'s file and the file's name.
fn split(w: &Wanted) -> (PathBuf, &str) {
    let path = Path::new(&w.secret.path);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    (dir, w.secret.name.as_str())
}

/// The file of `w` as it is now, with its ownership; `None` when it (or its directory)
/// is missing or cannot be read safely.
fn current(w: &Wanted) -> Option<(Vec<u8>, Ownership)> {
    let (dir, name) = split(w);
    let dir = SafeDir::open(&dir, false).ok()??;
    dir.read_with_owner(name).ok()?
}

/// The processes whose secret files would change (or be created): they restart even
/// when their script stays the same.
pub fn needing_restart(wanted: &[Wanted]) -> BTreeSet<String> {
    wanted
        .iter()
        .filter(|w| {
            let Some(contents) = &w.contents else {
                return false;
            };
            match (current(w), file_owner(w)) {
                (Some((bytes, now)), Some(owner)) => {
                    let same = bytes == contents.bytes() && now == owner;
                    let mut bytes = bytes;
                    bytes.iter_mut().for_each(|b| *b = 0);
                    !same
                }
                _ => true,
            }
        })
        .map(|w| w.process.clone())
        .collect()
}

/// A secret file [`place`] wrote: its directory, its name, and what it held before
/// (`None`: it did not exist).
type Overwritten = (PathBuf, String, Option<(Contents, Ownership)>);

/// What [`place`] changed, to put back when the switch fails.
#[derive(Debug, Default)]
pub struct Placed {
    /// Each file written, in order.
    previous: Vec<Overwritten>,
}

/// The secrets' directory of a process under `dir`'s parent: made when missing, mode
/// 0711, the caller's; its parent `nixproc-sysvinit-secrets` mode 0755.
fn process_dir(dir: &Path) -> Result<SafeDir, SafeDirError> {
    // SAFETY: geteuid and getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if let Some(top) = dir.parent() {
        SafeDir::create(top)?.set_owner_and_mode(uid, gid, 0o755)?;
    }
    let own = SafeDir::create(dir)?;
    own.set_owner_and_mode(uid, gid, 0o711)?;
    Ok(own)
}

/// Writes every wanted secret that has contents and differs from its file, with its
/// owner and mode (owners exist by now: the switch made the profile's accounts). On an
/// error the files already written are put back before it returns.
pub fn place(wanted: &[Wanted]) -> Result<Placed, SecretError> {
    let mut placed = Placed::default();
    for w in wanted {
        let Some(contents) = &w.contents else {
            continue;
        };
        if let Err(error) = place_one(w, contents, &mut placed) {
            placed.restore();
            return Err(error);
        }
    }
    Ok(placed)
}

/// Writes the file of `w` unless it already holds `contents` with its owner and mode.
fn place_one(w: &Wanted, contents: &Contents, placed: &mut Placed) -> Result<(), SecretError> {
    let file_error = |error| SecretError::File {
        process: w.process.clone(),
        name: w.secret.name.clone(),
        error,
    };
    let owner = file_owner(w).ok_or_else(|| SecretError::Account {
        process: w.process.clone(),
        name: w.secret.name.clone(),
        kind: "owner or group",
        account: format!(
            "{}:{}",
            w.secret.owner.as_deref().unwrap_or("-"),
            w.secret.group.as_deref().unwrap_or("-")
        ),
    })?;
    let (dir_path, name) = split(w);
    let dir = process_dir(&dir_path).map_err(file_error)?;
    let before = dir.read_with_owner(name).map_err(file_error)?;
    if let Some((bytes, now)) = &before {
        if bytes == contents.bytes() && *now == owner {
            return Ok(());
        }
    }
    dir.replace_owned(name, contents.bytes(), owner)
        .map_err(file_error)?;
    let before = before.map(|(bytes, now)| (Contents::new(bytes), now));
    placed.previous.push((dir_path, name.to_string(), before));
    Ok(())
}

impl Placed {
    /// Puts back what the files held before [`place`] (removing those it created);
    /// returns a warning for each that could not be.
    pub fn restore(self) -> Vec<String> {
        let mut warnings = Vec::new();
        for (dir_path, name, before) in self.previous.into_iter().rev() {
            let result = SafeDir::open(&dir_path, false).and_then(|dir| {
                let Some(dir) = dir else { return Ok(()) };
                match &before {
                    Some((contents, owner)) => dir.replace_owned(&name, contents.bytes(), *owner),
                    None => remove_file(&dir, &name),
                }
            });
            if let Err(e) = result {
                warnings.push(format!(
                    "secret {}/{name} not put back: {e}",
                    dir_path.display()
                ));
            }
        }
        warnings
    }
}

/// Removes file `name` of `dir`; a missing one is no error.
fn remove_file(dir: &SafeDir, name: &str) -> Result<(), SafeDirError> {
    let cname = CString::new(name).map_err(|_| {
        SafeDirError::io(
            "removing",
            dir.path.join(name),
            std::io::ErrorKind::InvalidInput.into(),
        )
    })?;
    match dir.remove(&cname, false) {
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => {
            Err(SafeDirError::io("removing", dir.path.join(name), e))
        }
        _ => Ok(()),
    }
}

/// Removes the files of the secrets `old` declares and `new` does not (an undeploy
/// removes them all), and the directories of processes left without any; returns a
/// warning for each that could not be removed (nothing fails the switch now).
pub fn remove_obsolete(old: &Profile, new: &Profile) -> Vec<String> {
    let keep: BTreeSet<&str> = declared(new).map(|(_, s)| s.path.as_str()).collect();
    let mut warnings = Vec::new();
    let mut dirs = BTreeSet::new();
    for (process, secret) in declared(old) {
        if keep.contains(secret.path.as_str()) || check_path(process, secret).is_err() {
            continue;
        }
        let path = Path::new(&secret.path);
        let Some(dir_path) = path.parent() else {
            continue;
        };
        let result = match SafeDir::open(dir_path, false) {
            Ok(Some(dir)) => remove_file(&dir, &secret.name),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                dirs.insert(dir_path.to_path_buf());
            }
            Err(e) => warnings.push(format!(
                "process '{process}': secret '{}' not removed: {e}",
                secret.name
            )),
        }
    }
    for dir in dirs {
        // Only an empty directory goes; one another profile still uses stays.
        let _ = std::fs::remove_dir(&dir);
    }
    warnings
}

/// The line the deploying machine writes on a host switch's standard input: a JSON
/// object of process → secret → contents in hexadecimal, then a newline.
pub fn payload_line(payload: &Payload) -> Vec<u8> {
    let mut out = Vec::from(&b"{"[..]);
    for (i, (process, secrets)) in payload.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend(
            serde_json::to_string(process)
                .unwrap_or_default()
                .as_bytes(),
        );
        out.extend(b":{");
        for (j, (name, contents)) in secrets.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend(serde_json::to_string(name).unwrap_or_default().as_bytes());
            out.extend(b":\"");
            for byte in contents.bytes() {
                out.extend(format!("{byte:02x}").as_bytes());
            }
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.extend(b"}\n");
    out
}

/// Reads what [`payload_line`] wrote (the whole input; the reader ends with it).
pub fn read_payload(mut input: impl Read) -> Result<Payload, SecretError> {
    let mut text = Vec::new();
    input
        .read_to_end(&mut text)
        .map_err(|e| SecretError::Payload(e.to_string()))?;
    let parsed: Result<BTreeMap<String, BTreeMap<String, String>>, _> =
        serde_json::from_slice(&text);
    text.iter_mut().for_each(|b| *b = 0);
    let parsed = parsed.map_err(|e| SecretError::Payload(e.to_string()))?;
    let mut payload = Payload::new();
    for (process, secrets) in parsed {
        let mut decoded = BTreeMap::new();
        for (name, mut hex) in secrets {
            let bytes = from_hex(&hex).ok_or_else(|| {
                SecretError::Payload(format!("secret '{name}' of '{process}' is not hexadecimal"))
            });
            // SAFETY: zeros are valid UTF-8, so the string stays a valid `String`.
            unsafe { hex.as_bytes_mut().iter_mut().for_each(|b| *b = b'0') };
            decoded.insert(name, Contents::new(bytes?));
        }
        payload.insert(process, decoded);
    }
    Ok(payload)
}

/// The bytes of a string of hexadecimal digit pairs.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(pair, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_reads_back_byte_for_byte() {
        let mut payload = Payload::new();
        let all_bytes: Vec<u8> = (0..=255).collect();
        payload
            .entry("web".into())
            .or_default()
            .insert("db".into(), Contents::new(all_bytes.clone()));
        payload
            .entry("web".into())
            .or_default()
            .insert("tls.key".into(), Contents::new(Vec::new()));
        payload
            .entry("a\"b".into())
            .or_default()
            .insert("x".into(), Contents::new(b"\n".to_vec()));
        let line = payload_line(&payload);
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one line");
        let back = read_payload(&line[..]).unwrap();
        assert_eq!(back["web"]["db"].bytes(), &all_bytes[..]);
        assert_eq!(back["web"]["tls.key"].bytes(), b"");
        assert_eq!(back["a\"b"]["x"].bytes(), b"\n");
    }

    #[test]
    fn a_bad_payload_is_an_error_that_shows_no_contents() {
        let error = read_payload(&b"{\"web\":{\"db\":\"zz\"}}"[..]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the secrets on standard input are not valid: secret 'db' of 'web' is not hexadecimal"
        );
        assert!(read_payload(&b"not json"[..]).is_err());
    }

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

    #[test]
    fn contents_are_not_shown_by_debug() {
        let c = Contents::new(b"hunter2".to_vec());
        assert_eq!(format!("{c:?}"), "Contents(7 bytes)");
    }
}
