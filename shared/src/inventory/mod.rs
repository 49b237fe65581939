//! The inventory sync engine. Pure core: bundle maths ([`bundles`]) and push planning
//! ([`plan`]). Around it: the WMS stock snapshot and reservations ([`stock`]), runs
//! ([`runs`]), the channel seam ([`channel`]) and the consumers that move stock to channels
//! ([`engine`]).

pub mod bundles;
pub mod channel;
pub mod engine;
pub mod plan;
pub mod runs;
pub mod skumap;
pub mod stock;
pub mod unshipped;
