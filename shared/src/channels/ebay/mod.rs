//! eBay (Sell Fulfillment, Inventory, Notification API, Marketplace Account Deletion).
//! Facts: `../shared/reference/channels-tiktok-ebay-etsy-veeqo.md` §2.
pub mod notify;
