//! The respawn policy: given when the clients exited, restart or give up. Pure (time is
//! passed in), so it is tested without processes.
//!
//! A client is started again unless the exits within the last `window` (this one
//! included) number more than `attempts`:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use nixproc_sysvinit::supervise::policy::{Decision, ExitHistory, RespawnPolicy};
//!
//! let policy = RespawnPolicy { attempts: 2, window: Duration::from_secs(60) };
//! let mut history = ExitHistory::new(policy);
//! let t = Instant::now();
//! assert_eq!(history.record(t), Decision::Restart { nth: 1 });
//! assert_eq!(history.record(t + Duration::from_secs(1)), Decision::Restart { nth: 2 });
//! assert_eq!(history.record(t + Duration::from_secs(2)), Decision::GiveUp { exits: 3 });
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How many exits within how long a supervisor accepts before it gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RespawnPolicy {
    /// Restarts allowed within `window`.
    pub attempts: u32,
    /// How far back exits count.
    pub window: Duration,
}

/// What to do once a client exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start it again: the `nth` restart within the window (from 1).
    Restart {
        /// Which restart within the window this is.
        nth: u32,
    },
    /// Stop trying: `exits` exits within the window, more than the attempts allowed.
    GiveUp {
        /// The exits within the window.
        exits: u32,
    },
}

/// The recent exits of a supervisor's clients: those within the policy's window.
#[derive(Debug, Clone)]
pub struct ExitHistory {
    policy: RespawnPolicy,
    exits: VecDeque<Instant>,
}

impl ExitHistory {
    /// No exits yet.
    pub fn new(policy: RespawnPolicy) -> ExitHistory {
        ExitHistory {
            policy,
            exits: VecDeque::new(),
        }
    }

    /// Records an exit at `at` (not earlier than the exits recorded before) and decides.
    pub fn record(&mut self, at: Instant) -> Decision {
        let window = self.policy.window;
        while let Some(first) = self.exits.front() {
            if at.saturating_duration_since(*first) < window {
                break;
            }
            self.exits.pop_front();
        }
        self.exits.push_back(at);
        let exits = u32::try_from(self.exits.len()).unwrap_or(u32::MAX);
        if exits > self.policy.attempts {
            Decision::GiveUp { exits }
        } else {
            Decision::Restart { nth: exits }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(attempts: u32, window_ms: u64) -> ExitHistory {
        ExitHistory::new(RespawnPolicy {
            attempts,
            window: Duration::from_millis(window_ms),
        })
    }

    fn after(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn gives_up_after_attempts_within_the_window() {
        let mut h = history(5, 60_000);
        let t = Instant::now();
        for n in 1..=5 {
            assert_eq!(
                h.record(after(t, n * 100)),
                Decision::Restart { nth: n as u32 }
            );
        }
        assert_eq!(h.record(after(t, 600)), Decision::GiveUp { exits: 6 });
    }

    #[test]
    fn old_exits_leave_the_window() {
        let mut h = history(2, 1_000);
        let t = Instant::now();
        assert_eq!(h.record(t), Decision::Restart { nth: 1 });
        assert_eq!(h.record(after(t, 500)), Decision::Restart { nth: 2 });
        // The first exit is exactly one window old: it no longer counts.
        assert_eq!(h.record(after(t, 1_000)), Decision::Restart { nth: 2 });
        assert_eq!(h.record(after(t, 1_100)), Decision::GiveUp { exits: 3 });
    }

    #[test]
    fn slow_crashes_are_restarted_for_ever() {
        let mut h = history(1, 1_000);
        let t = Instant::now();
        for n in 0..1_000 {
            assert_eq!(h.record(after(t, n * 1_500)), Decision::Restart { nth: 1 });
        }
    }

    #[test]
    fn no_attempts_gives_up_at_the_first_exit() {
        let mut h = history(0, 60_000);
        assert_eq!(h.record(Instant::now()), Decision::GiveUp { exits: 1 });
    }

    #[test]
    fn a_zero_window_counts_only_the_exit_itself() {
        let mut h = history(1, 0);
        let t = Instant::now();
        for _ in 0..10 {
            assert_eq!(h.record(t), Decision::Restart { nth: 1 });
        }
    }
}
