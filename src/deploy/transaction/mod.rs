//! A switch as one transaction: the plan between two profiles, the lock and journal that
//! make it survive a kill, how its steps are shown, and the switch that ties them
//! together (its rollback, the recovery of an interrupted one).

pub mod journal;
mod phases;
pub mod plan;
mod preflight;
mod profile_move;
pub mod progress;
mod recovery;
mod rollback;
mod settings;
pub mod switch;
