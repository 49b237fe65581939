//! Queue consumers: one function per message, shared by the Lambda SQS handlers (partial
//! batch responses) and the in-process loops of `channel-sync serve`.

pub mod order_import;
pub mod wms_events;

pub use crate::runner::{
    dead_letter, drain_batch, drain_once, run_loop, run_loop_with, sqs_batch, Disposition,
};
