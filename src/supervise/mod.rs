//! The supervisor of foreground processes (`nixproc-sysvinit-supervise`).
//!
//! - [`state`]: the state file's format (read by `status` and by runactivity);
//! - [`log`]: the rotating log file;
//! - [`policy`]: when to respawn and when to give up (pure).

pub mod log;
pub mod policy;
pub mod state;
