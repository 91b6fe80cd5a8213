//! The script's own activities: `activities` (raw shell code), `instructions` (a
//! message verb plus shell code) and `removeActivities`.

use std::collections::BTreeMap;

use super::Attrs;
use crate::error::Result;
use crate::spec::attributes::INSTRUCTION_ATTRIBUTES;
use crate::spec::names::{check_name, NameKind};
use crate::spec::Instruction;

/// What a process's script can do besides the generated activities.
pub(super) struct Work {
    /// Raw activities: name → shell code.
    pub(super) activities: BTreeMap<String, String>,
    /// Activities as message + instruction.
    pub(super) instructions: BTreeMap<String, Instruction>,
    /// Generated activities to leave out.
    pub(super) remove_activities: Vec<String>,
}

/// Reads `removeActivities`, `activities` and `instructions`; fails when there is
/// nothing to run at all (no program either: `has_program` is false).
pub(super) fn parse_work(attrs: &Attrs, has_program: bool) -> Result<Work> {
    let remove_activities = attrs.string_list("removeActivities")?;
    let activities = parse_activities(attrs)?;
    let instructions = parse_instructions(attrs)?;
    for activity in &remove_activities {
        check_name(attrs, "removeActivities", activity, NameKind::Activity)?;
    }
    if !has_program && activities.is_empty() && instructions.is_empty() {
        return Err(attrs.invalid(
            "process",
            "nothing to run: set 'process', 'instructions' or 'activities'".into(),
        ));
    }
    Ok(Work {
        activities,
        instructions,
        remove_activities,
    })
}

/// The `activities` attribute set: activity name → shell code, each name checked.
fn parse_activities(attrs: &Attrs) -> Result<BTreeMap<String, String>> {
    attrs.opt_map("activities", |acts, key, value| {
        check_name(attrs, &acts.path(key), key, NameKind::Activity)?;
        acts.string_value(key, value)
    })
}

/// The `instructions` attribute set: activity name → its `instruction` (required) and
/// the `activity` verb of its message (the capitalised name by default).
fn parse_instructions(attrs: &Attrs) -> Result<BTreeMap<String, Instruction>> {
    attrs.opt_map("instructions", |instrs, key, value| {
        check_name(attrs, &instrs.path(key), key, NameKind::Activity)?;
        let one = instrs.nested(key, value)?;
        one.check_known(INSTRUCTION_ATTRIBUTES)?;
        let instruction = one
            .opt_string("instruction")?
            .ok_or_else(|| one.invalid("instruction", "missing: the shell code to run".into()))?;
        let activity = one
            .opt_string("activity")?
            .unwrap_or_else(|| capitalise(key));
        Ok(Instruction {
            activity,
            instruction,
        })
    })
}

/// `word` with its first character in upper case.
fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
