//! WooCommerce (self-hosted WordPress, REST `wp-json/wc/v3`).
//! Facts: `../shared/reference/channels-shopify-woocommerce-magento.md` §2.
