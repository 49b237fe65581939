//! Magento 2 / Adobe Commerce (REST `/rest/{store}/V1`, OAuth 1.0a HMAC-SHA256).
//! Facts: `../shared/reference/channels-shopify-woocommerce-magento.md` §3.
