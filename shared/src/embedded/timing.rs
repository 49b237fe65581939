//! Where the store's writer threads spend their time, by kind of job (issue 17: the share of
//! end-to-end time in storage and queueing). Off by default: when off, each group costs one
//! relaxed load of a flag and nothing is read from the clock.
//!
//! The writer thread is the only place SQLite runs, so its busy time by kind is the storage
//! and queueing cost of whatever ran during a measurement. `Commit` is the group's own
//! transaction (`BEGIN IMMEDIATE`, `COMMIT`: the WAL write) shared by every job of the group.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a writer-thread job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Records, claims, connections, tokens, credentials.
    Storage = 0,
    /// Queue sends, receives, acks.
    Queue = 1,
    /// The group's transaction: `BEGIN IMMEDIATE` and `COMMIT`.
    Commit = 2,
}

const KINDS: usize = 3;

static ON: AtomicBool = AtomicBool::new(false);
static NANOS: [AtomicU64; KINDS] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static JOBS: [AtomicU64; KINDS] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
static GROUPS: AtomicU64 = AtomicU64::new(0);

/// Turns the counting on or off (process-wide: every store of the process).
pub fn enable(on: bool) {
    ON.store(on, Ordering::Relaxed);
}

/// The counters since the process started (or since the last [`reset`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Split {
    pub storage: Duration,
    pub queue: Duration,
    pub commit: Duration,
    /// Jobs run, by kind.
    pub storage_jobs: u64,
    pub queue_jobs: u64,
    /// Groups committed (one transaction each).
    pub groups: u64,
}

impl Split {
    /// The writer threads' busy time.
    pub fn total(&self) -> Duration {
        self.storage + self.queue + self.commit
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Split) -> Split {
        Split {
            storage: self.storage.saturating_sub(earlier.storage),
            queue: self.queue.saturating_sub(earlier.queue),
            commit: self.commit.saturating_sub(earlier.commit),
            storage_jobs: self.storage_jobs.saturating_sub(earlier.storage_jobs),
            queue_jobs: self.queue_jobs.saturating_sub(earlier.queue_jobs),
            groups: self.groups.saturating_sub(earlier.groups),
        }
    }
}

/// The counters now.
pub fn snapshot() -> Split {
    let nanos = |k: Kind| Duration::from_nanos(NANOS[k as usize].load(Ordering::Relaxed));
    Split {
        storage: nanos(Kind::Storage),
        queue: nanos(Kind::Queue),
        commit: nanos(Kind::Commit),
        storage_jobs: JOBS[Kind::Storage as usize].load(Ordering::Relaxed),
        queue_jobs: JOBS[Kind::Queue as usize].load(Ordering::Relaxed),
        groups: GROUPS.load(Ordering::Relaxed),
    }
}

/// Sets every counter to zero.
pub fn reset() {
    for n in NANOS.iter().chain(JOBS.iter()) {
        n.store(0, Ordering::Relaxed);
    }
    GROUPS.store(0, Ordering::Relaxed);
}

/// The writer thread's stopwatch: `None` when counting is off.
pub(super) struct Clock(Option<Instant>);

impl Clock {
    pub(super) fn start() -> Self {
        Clock(ON.load(Ordering::Relaxed).then(Instant::now))
    }

    /// Adds the time since the last lap to `kind`, and starts the next lap.
    pub(super) fn lap(self, kind: Kind) -> Self {
        let Some(since) = self.0 else {
            return self;
        };
        let now = Instant::now();
        let nanos = u64::try_from(now.duration_since(since).as_nanos()).unwrap_or(u64::MAX);
        NANOS[kind as usize].fetch_add(nanos, Ordering::Relaxed);
        JOBS[kind as usize].fetch_add(1, Ordering::Relaxed);
        Clock(Some(now))
    }

    /// Counts one committed group.
    pub(super) fn group(self, _jobs: usize) {
        if self.0.is_some() {
            GROUPS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counting off: a lap reads no clock and counts nothing. On: each lap lands on its kind.
    /// (One test, as the counters are process-wide; nothing else turns them on.)
    #[test]
    fn laps_count_only_when_on_and_land_on_their_kind() {
        enable(false);
        let before = snapshot();
        Clock::start().lap(Kind::Storage).lap(Kind::Queue).group(2);
        assert_eq!(snapshot().since(&before), Split::default());
        enable(true);
        let before = snapshot();
        let clock = Clock::start();
        std::thread::sleep(Duration::from_millis(2));
        clock.lap(Kind::Queue).lap(Kind::Storage).group(2);
        enable(false);
        let split = snapshot().since(&before);
        // Other tests' stores may count too while it is on: at least ours.
        assert!(split.queue >= Duration::from_millis(2), "{split:?}");
        assert!(split.queue_jobs >= 1 && split.storage_jobs >= 1 && split.groups >= 1);
    }
}
