//! Client-side pacing for Veeqo's leaky bucket (5 requests/s, room for 100, per account;
//! reference §4.8), as a generic cell rate: each request is given the earliest instant at
//! which the bucket has room for it, so a burst goes out at once and a long run (a full stock
//! push) settles at the leak rate. Every job of a connection shares one limiter in this
//! process; requests are reserved one at a time, so a poll that asks while a push is running
//! waits one interval, not for the whole push.
//!
//! We leave [`HEADROOM`] requests of the bucket unused: Veeqo counts every client of the
//! account (its own apps, other integrations), which we cannot see.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Veeqo's leak rate: one request per 200 ms.
pub const INTERVAL: Duration = Duration::from_millis(200);
/// Veeqo's bucket size.
pub const BUCKET: u32 = 100;
/// Requests of the bucket left to other clients of the account.
pub const HEADROOM: u32 = 20;
/// Accounts remembered; past this the oldest-idle state is dropped (it only paces).
const MAX_ACCOUNTS: usize = 4096;

/// One leaky bucket per account.
#[derive(Debug)]
pub struct Limiter {
    interval: Duration,
    /// How far ahead of now the next slot may be and still be sent at once.
    tolerance: Duration,
    /// Per account: the theoretical arrival time of the next request.
    next: Mutex<HashMap<String, Instant>>,
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new(INTERVAL, BUCKET - HEADROOM)
    }
}

impl Limiter {
    /// A bucket of `bucket` requests leaking `per_second` (both at least 1), of which we use
    /// all but a fifth (see [`HEADROOM`]).
    pub fn for_rate(per_second: u32, bucket: u32) -> Self {
        let per_second = per_second.max(1);
        let bucket = bucket.max(1);
        let burst = bucket.saturating_sub(bucket / 5).max(1);
        Self::new(Duration::from_secs(1) / per_second, burst)
    }

    /// `VEEQO_RATE_LIMIT` as `{per_second}/{bucket}` (default Veeqo's `5/100`), for an
    /// enterprise account with other limits, or a local fake.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let parsed = raw.split_once('/').and_then(|(rate, bucket)| {
            let rate = rate
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))?;
            let bucket = bucket
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))?;
            Some((rate, bucket))
        });
        match parsed {
            Some((rate, bucket)) => Ok(Self::for_rate(rate, bucket)),
            None => Err(format!(
                "VEEQO_RATE_LIMIT {raw:?} must be requests per second / bucket size, e.g. 5/100"
            )),
        }
    }

    /// `burst` requests at once, then one per `interval`.
    pub fn new(interval: Duration, burst: u32) -> Self {
        Self {
            interval,
            tolerance: interval * burst.saturating_sub(1),
            next: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves a slot for `account` at `now`: how long to wait before sending.
    pub fn reserve(&self, account: &str, now: Instant) -> Duration {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if next.len() >= MAX_ACCOUNTS && !next.contains_key(account) {
            next.retain(|_, at| *at > now);
        }
        let at = next.get(account).copied().unwrap_or(now).max(now);
        let allowed = at.checked_sub(self.tolerance).unwrap_or(now);
        next.insert(account.to_owned(), at + self.interval);
        allowed.saturating_duration_since(now)
    }

    /// Veeqo answered 429: its bucket is full whatever we counted, so nothing more is sent for
    /// `account` before `until`, then one per interval.
    pub fn full_until(&self, account: &str, until: Instant) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let at = until + self.tolerance;
        let entry = next.entry(account.to_owned()).or_insert(at);
        if *entry < at {
            *entry = at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_then_one_per_interval() {
        let limiter = Limiter::new(Duration::from_millis(200), 3);
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..6).map(|_| limiter.reserve("acme", t0)).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(waits, [ms(0), ms(0), ms(0), ms(200), ms(400), ms(600)]);
        // Another account has its own bucket.
        assert_eq!(limiter.reserve("other", t0), Duration::ZERO);
        // Once the bucket has leaked, requests go at once again.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(limiter.reserve("acme", later), Duration::ZERO);
    }

    /// 5,000 requests reserved back to back never exceed the bucket: at any instant, the
    /// requests sent in the last `n` intervals are at most `burst + n`.
    #[test]
    fn a_long_run_stays_within_the_bucket() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        let sends: Vec<Duration> = (0..5000).map(|_| limiter.reserve("acme", t0)).collect();
        let burst = (BUCKET - HEADROOM) as usize;
        for (i, at) in sends.iter().enumerate() {
            // The bucket holds what was sent minus what leaked since t0.
            let leaked = (at.as_millis() / INTERVAL.as_millis()) as usize;
            assert!(i < burst + leaked, "request {i} at {at:?} overflows");
        }
        assert_eq!(
            *sends.last().unwrap(),
            INTERVAL * (5000 - BUCKET + HEADROOM)
        );
    }

    #[test]
    fn the_rate_limit_setting_is_checked() {
        let fast = Limiter::parse("50/20").unwrap();
        assert_eq!(fast.interval, Duration::from_millis(20));
        assert_eq!(fast.tolerance, Duration::from_millis(20) * 15);
        let veeqo = Limiter::parse(" 5 / 100 ").unwrap();
        assert_eq!(veeqo.interval, INTERVAL);
        assert_eq!(veeqo.tolerance, INTERVAL * (BUCKET - HEADROOM - 1));
        for bad in ["", "5", "0/100", "5/0", "x/y", "5/100/1"] {
            assert!(Limiter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_429_empties_nothing_until_the_wait_is_over() {
        let limiter = Limiter::new(Duration::from_millis(200), 3);
        let t0 = Instant::now();
        limiter.full_until("acme", t0 + Duration::from_secs(2));
        assert_eq!(limiter.reserve("acme", t0), Duration::from_secs(2));
        assert_eq!(
            limiter.reserve("acme", t0),
            Duration::from_millis(2200),
            "then one per interval"
        );
    }
}
