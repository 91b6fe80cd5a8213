//! Sequence numbers and the rc.d link layout.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SpecError};
use crate::spec::ProcessSpec;

/// One rc.d symlink, relative to `etc/rc.d`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Where the link lives, e.g. `rc3.d/S01webapp`.
    pub path: String,
    /// What it points to, e.g. `../init.d/webapp`.
    pub target: String,
}

/// Start and stop sequence numbers of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequences {
    /// Position in start order: one after the latest dependency.
    pub start: u32,
    /// Position in stop order: the mirror image of `start`.
    pub stop: u32,
}

/// Computes the sequence numbers: `start` is one more than the highest dependency
/// sequence (or `minSequence`), `stop` mirrors it within `[minSequence, maxSequence]`.
pub fn sequences(spec: &ProcessSpec) -> Result<Sequences> {
    let config = &spec.config;
    let latest = spec.dependencies.iter().max_by_key(|d| d.sequence);
    let start = match latest {
        Some(dep) => dep.sequence + 1,
        None => config.min_sequence,
    };
    if start > config.max_sequence {
        let dep = latest.map(|d| d.name.as_str()).unwrap_or_default();
        return Err(SpecError::InvalidValue {
            process: spec.name.clone(),
            attribute: "dependencies".into(),
            message: format!(
                "start sequence {start} exceeds maxSequence {}: '{}' starts after '{dep}' (sequence {}); the dependency chain is too deep",
                config.max_sequence,
                spec.name,
                start - 1
            ),
        });
    }
    Ok(Sequences {
        start,
        stop: config.max_sequence - start + config.min_sequence,
    })
}

/// The start links (`S`) for `defaultStart` and stop links (`K`) for `defaultStop`.
pub fn links(spec: &ProcessSpec, seq: Sequences) -> Vec<Link> {
    let target = format!("../init.d/{}", spec.name);
    let starts = spec
        .default_start
        .iter()
        .map(|level| (*level, 'S', seq.start));
    let stops = spec
        .default_stop
        .iter()
        .map(|level| (*level, 'K', seq.stop));
    let mut links: Vec<Link> = starts
        .chain(stops)
        .map(|(level, kind, number)| {
            let mut path = String::with_capacity(8 + spec.name.len());
            path.push_str("rc");
            path.push((b'0' + level) as char);
            path.push_str(".d/");
            path.push(kind);
            path.push((b'0' + (number / 10) as u8) as char);
            path.push((b'0' + (number % 10) as u8) as char);
            path.push_str(&spec.name);
            Link {
                path,
                target: target.clone(),
            }
        })
        .collect();
    links.sort_by(|a, b| a.path.cmp(&b.path));
    links
}
