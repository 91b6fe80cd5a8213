//! What an activity is made of: steps the renderer wrote or the user wrote, and how the
//! activity around them is written.

/// One step of an activity.
pub(super) enum Step {
    /// A command the renderer wrote, its words quoted; it spans lines only inside quotes
    /// or after `&&`, where its next line carries its own indentation.
    Command(String),
    /// Shell code the user wrote, and the attribute it comes from (for the comment).
    Written { source: String, code: String },
}

/// How one activity is written.
pub(super) enum Activity {
    /// A message, the steps, then the evaluate command.
    Instruction { verb: String, steps: Vec<Step> },
    /// The steps alone.
    Plain(Vec<Step>),
}

/// A step of user code from the attribute `source`.
pub(super) fn written(source: String, code: &str) -> Step {
    Step::Written {
        source,
        code: code.to_string(),
    }
}
