//! The view of one attribute set of the input ([`Attrs`]): where it sits (the process
//! and the attribute path, for errors) and its typed getters, each refusing a value of
//! the wrong type with an error naming the attribute.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{kind_of, suggestion_suffix, Result, SpecError};
use crate::spec::names::shown_name;

/// A view of one attribute set of the input, with the context errors need.
pub(in crate::spec) struct Attrs<'a> {
    /// The process's name, as errors show it.
    pub(super) process: &'a str,
    /// The attribute path of this set (empty at the top level).
    pub(super) prefix: String,
    /// The attributes of this set.
    pub(super) map: &'a Map<String, Value>,
}

impl<'a> Attrs<'a> {
    /// The attribute path of `key` in this set, as errors name it.
    pub(super) fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    /// The value of `key`, if the set has it.
    pub(in crate::spec) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// The error for `key` holding `found` where `expected` belongs.
    pub(in crate::spec) fn wrong_type(
        &self,
        key: &str,
        expected: &'static str,
        found: &Value,
    ) -> SpecError {
        SpecError::WrongType {
            process: shown_name(self.process),
            attribute: self.path(key),
            expected,
            found: kind_of(found),
        }
    }

    /// The error for `key` holding a value of the right type that is still wrong.
    pub(in crate::spec) fn invalid(&self, key: &str, message: String) -> SpecError {
        SpecError::InvalidValue {
            process: shown_name(self.process),
            attribute: self.path(key),
            message,
        }
    }

    /// Fails on the first attribute not in `known`, suggesting the nearest known one.
    pub(in crate::spec) fn check_known(&self, known: &[&str]) -> Result<()> {
        for key in self.map.keys() {
            if !known.contains(&key.as_str()) {
                return Err(SpecError::UnknownAttribute {
                    process: shown_name(self.process),
                    attribute: self.path(key),
                    suggestion: suggestion_suffix(key, known),
                });
            }
        }
        Ok(())
    }

    /// The attributes of this set, sorted by name.
    pub(in crate::spec) fn map_entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }

    /// The attribute set under `key`, as a nested view.
    pub(in crate::spec) fn nested(&self, key: &str, value: &'a Value) -> Result<Attrs<'a>> {
        match value {
            Value::Object(map) => Ok(Attrs {
                process: self.process,
                prefix: self.path(key),
                map,
            }),
            other => Err(self.wrong_type(key, "an attribute set", other)),
        }
    }

    /// The optional attribute set under `key` as a nested view (`None` when missing or
    /// `null`).
    pub(in crate::spec) fn opt_nested(&self, key: &str) -> Result<Option<Attrs<'a>>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.nested(key, v).map(Some),
        }
    }

    /// The optional attribute set `key` as a map: each of its attributes turned into a
    /// value by `entry`, given the set, the attribute's name and its value. Empty when
    /// `key` is missing or `null`.
    pub(super) fn opt_map<T>(
        &self,
        key: &str,
        mut entry: impl FnMut(&Attrs<'a>, &'a String, &'a Value) -> Result<T>,
    ) -> Result<BTreeMap<String, T>> {
        let Some(set) = self.opt_nested(key)? else {
            return Ok(BTreeMap::new());
        };
        set.map
            .iter()
            .map(|(name, value)| Ok((name.clone(), entry(&set, name, value)?)))
            .collect()
    }

    /// `value` of `key` as a string: no other type, and no NUL character.
    pub(super) fn string_value(&self, key: &str, value: &Value) -> Result<String> {
        match value {
            Value::String(s) if s.contains('\0') => {
                Err(self.invalid(key, "contains a NUL character".into()))
            }
            Value::String(s) => Ok(s.clone()),
            other => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// The optional string `key` (`None` when missing or `null`).
    pub(in crate::spec) fn opt_string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.string_value(key, v).map(Some),
        }
    }

    /// A string, integer or boolean turned into text the way Nix's `toString` does.
    pub(super) fn scalar_value(&self, key: &str, value: &Value) -> Result<String> {
        match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
            Value::Bool(true) => Ok("1".into()),
            Value::Bool(false) => Ok(String::new()),
            Value::String(_) => self.string_value(key, value),
            other => Err(self.wrong_type(key, "a string, an integer or a boolean", other)),
        }
    }

    /// The optional boolean `key` (`None` when missing or `null`).
    pub(in crate::spec) fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong_type(key, "a boolean", other)),
        }
    }

    /// The optional integer `key` (`None` when missing or `null`), within `i64`.
    pub(in crate::spec) fn opt_int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(Value::Number(n)) if n.is_u64() => {
                Err(self.invalid(key, format!("{n} is too large")))
            }
            Some(other) => Err(self.wrong_type(key, "an integer", other)),
        }
    }

    /// The optional non-negative integer `key`, within `u32`.
    pub(in crate::spec) fn opt_u32(&self, key: &str) -> Result<Option<u32>> {
        match self.opt_int(key)? {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| self.invalid(key, format!("{n} is not a non-negative integer"))),
        }
    }

    /// A list of strings (integers and booleans are turned into text like `toString`).
    pub(in crate::spec) fn string_list(&self, key: &str) -> Result<Vec<String>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Array(_) | Value::Object(_) | Value::Null => Err(SpecError::WrongType {
                        process: shown_name(self.process),
                        attribute: format!("{}[{i}]", self.path(key)),
                        expected: "a string",
                        found: kind_of(item),
                    }),
                    _ => self.scalar_value(key, item),
                })
                .collect(),
            Some(other) => Err(self.wrong_type(key, "a list of strings", other)),
        }
    }

    /// The optional list of runlevels `key` (0 to 9), sorted and without repeats.
    pub(in crate::spec) fn opt_runlevels(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => {
                let mut levels = Vec::with_capacity(items.len());
                for item in items {
                    let level = item
                        .as_u64()
                        .filter(|l| *l <= 9)
                        .ok_or_else(|| match item {
                            Value::Number(n) if n.is_i64() || n.is_u64() => self.invalid(
                                key,
                                format!("{n} is not a runlevel (runlevels are 0 to 9)"),
                            ),
                            other => self.wrong_type(key, "a list of integers", other),
                        })?;
                    if !levels.contains(&(level as u8)) {
                        levels.push(level as u8);
                    }
                }
                levels.sort_unstable();
                Ok(Some(levels))
            }
            Some(other) => Err(self.wrong_type(key, "a list of integers", other)),
        }
    }
}
