//! What reaches `execve`: the environment and the command-line arguments, each string
//! within the kernel's limit for one (`MAX_ARG_STRLEN`).

use std::collections::BTreeMap;

use super::Attrs;
use crate::error::Result;
use crate::spec::names::{check_name, NameKind};

/// The kernel's limit on one argument or environment string, terminating NUL included
/// (`MAX_ARG_STRLEN`, 32 pages of 4 KiB). A longer `NAME=value` makes `execve` fail
/// with "Argument list too long".
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// The `environment`: variable name → value as text, each `NAME=value` within the
/// kernel's limit for one string.
pub(super) fn parse_environment(attrs: &Attrs) -> Result<BTreeMap<String, String>> {
    attrs.opt_map("environment", |env, key, value| {
        check_name(env, key, key, NameKind::Variable)?;
        let value = env.scalar_value(key, value)?;
        // `NAME=value` and its NUL are one string of the process's environment.
        let size = key.len() + 1 + value.len() + 1;
        if size > MAX_ARG_STRLEN {
            return Err(env.invalid(
                key,
                format!(
                    "the value is {} bytes; as the environment string '{key}=...' it is {size} bytes, beyond the kernel's limit of {MAX_ARG_STRLEN} bytes for one string (MAX_ARG_STRLEN), so the process could not be started; pass large data in a file instead",
                    value.len()
                ),
            ));
        }
        Ok(value)
    })
}

/// The command-line arguments, each within the kernel's limit for one string.
pub(super) fn parse_args(attrs: &Attrs) -> Result<Vec<String>> {
    let args = attrs.string_list("args")?;
    if let Some((i, arg)) = args
        .iter()
        .enumerate()
        .find(|(_, a)| a.len() + 1 > MAX_ARG_STRLEN)
    {
        return Err(attrs.invalid(
            &format!("args[{i}]"),
            format!(
                "the argument is {} bytes, beyond the kernel's limit of {MAX_ARG_STRLEN} bytes for one string (MAX_ARG_STRLEN), so the process could not be started; pass large data in a file instead",
                arg.len()
            ),
        ));
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use crate::spec::parse;
    use serde_json::json;

    #[test]
    fn integers_and_booleans_become_text_like_to_string() {
        let spec = parse(&json!({
            "name": "web", "process": "/bin/web",
            "args": [1, true, false, "x"], "environment": {"PORT": 5000}
        }))
        .unwrap();
        assert_eq!(spec.args, ["1", "1", "", "x"]);
        assert_eq!(spec.environment["PORT"], "5000");
    }
}
