//! The inventory sync engine's pure core: bundle maths and push planning. No I/O: the
//! stock snapshot, the SKU map and the channel clients are given to it.

pub mod bundles;
pub mod plan;
pub mod stock;
