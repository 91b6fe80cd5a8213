//! `--on NAME|@TAG[,...]`: the hosts of a fleet a run is limited to. A word names hosts
//! by name, `@WORD` by tag; either may be a glob (`*` any text, `?` one character).
//! A word that matches no host is an error listing the names and tags there are.

use super::HostSpec;

/// Why an `--on` selection cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    /// A word of the selection is empty (`--on web1,,web2`, `--on @`).
    #[error("--on: an empty host name or tag in '{given}'")]
    Empty {
        /// The whole selection.
        given: String,
    },
    /// Some words match no host.
    #[error(
        "--on {given}: {} matches no host; the hosts are {}, their tags {}",
        unmatched.join(", "),
        names.join(", "),
        if tags.is_empty() { "none".to_string() } else { tags.iter().map(|t| format!("@{t}")).collect::<Vec<_>>().join(", ") }
    )]
    NoMatch {
        /// The whole selection.
        given: String,
        /// The words that matched nothing.
        unmatched: Vec<String>,
        /// Every host's name.
        names: Vec<String>,
        /// Every tag, once each, sorted.
        tags: Vec<String>,
    },
}

/// The hosts of `hosts` that `selection` (`NAME|@TAG[,...]`, globs allowed) names, in
/// their order. Every word must match at least one host.
pub fn select(hosts: Vec<HostSpec>, selection: &str) -> Result<Vec<HostSpec>, SelectError> {
    let words: Vec<&str> = selection.split(',').map(str::trim).collect();
    if words
        .iter()
        .any(|w| w.is_empty() || w.strip_prefix('@').is_some_and(str::is_empty))
    {
        return Err(SelectError::Empty {
            given: selection.to_string(),
        });
    }
    let matches = |word: &str, host: &HostSpec| match word.strip_prefix('@') {
        Some(tag) => host.tags.iter().any(|t| glob_match(tag, t)),
        None => glob_match(word, &host.name),
    };
    let unmatched: Vec<String> = words
        .iter()
        .filter(|w| !hosts.iter().any(|h| matches(w, h)))
        .map(|w| w.to_string())
        .collect();
    if !unmatched.is_empty() {
        let mut tags: Vec<String> = hosts.iter().flat_map(|h| h.tags.clone()).collect();
        tags.sort();
        tags.dedup();
        return Err(SelectError::NoMatch {
            given: selection.to_string(),
            unmatched,
            names: hosts.iter().map(|h| h.name.clone()).collect(),
            tags,
        });
    }
    Ok(hosts
        .into_iter()
        .filter(|h| words.iter().any(|w| matches(w, h)))
        .collect())
}

/// Whether `text` matches `pattern`, where `*` stands for any text and `?` for one
/// character (the whole of `text`, as a shell glob).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point: the last `*` seen.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> Vec<HostSpec> {
        [
            ("db1", &["db", "eu"][..]),
            ("web1", &["web", "eu"][..]),
            ("web2", &["web", "us"][..]),
            ("edge", &[][..]),
        ]
        .iter()
        .map(|(name, tags)| {
            let mut host = HostSpec::new(name, format!("root@{name}").parse().unwrap());
            host.tags = tags.iter().map(|t| t.to_string()).collect();
            host
        })
        .collect()
    }

    fn names(selection: &str) -> Vec<String> {
        select(fleet(), selection)
            .unwrap()
            .into_iter()
            .map(|h| h.name)
            .collect()
    }

    #[test]
    fn globs_match_whole_names() {
        for (pattern, text) in [
            ("web*", "web1"),
            ("*", ""),
            ("w?b1", "web1"),
            ("*1", "db1"),
            ("a*b*c", "axxbyyc"),
            ("a*bc", "abcbc"),
            ("web1", "web1"),
        ] {
            assert!(glob_match(pattern, text), "{pattern} {text}");
        }
        for (pattern, text) in [("web", "web1"), ("?", ""), ("*2", "web1"), ("a*bc", "abcb")] {
            assert!(!glob_match(pattern, text), "{pattern} {text}");
        }
    }

    #[test]
    fn names_tags_and_globs_select_hosts_in_fleet_order() {
        assert_eq!(names("web2"), ["web2"]);
        assert_eq!(names("web*"), ["web1", "web2"]);
        assert_eq!(names("@eu"), ["db1", "web1"]);
        assert_eq!(names("@u*,edge"), ["web2", "edge"]);
        assert_eq!(names("edge, db1"), ["db1", "edge"]);
        assert_eq!(names("@web,web1"), ["web1", "web2"]);
        assert_eq!(names("*").len(), 4);
    }

    #[test]
    fn a_word_matching_nothing_lists_what_exists() {
        let err = select(fleet(), "web1,@asia,mail*").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--on web1,@asia,mail*: @asia, mail* matches no host; the hosts are db1, \
             web1, web2, edge, their tags @db, @eu, @us, @web"
        );
        assert!(matches!(
            select(fleet(), "web1,,web2"),
            Err(SelectError::Empty { .. })
        ));
        assert!(matches!(
            select(fleet(), "@"),
            Err(SelectError::Empty { .. })
        ));
    }
}
