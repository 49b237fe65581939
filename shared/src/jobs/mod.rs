//! Scheduled jobs: run by the `scheduler` function on an EventBridge schedule and by timers
//! in `channel-sync serve`.

pub mod products;
pub mod reconcile;
pub mod webhook_health;
