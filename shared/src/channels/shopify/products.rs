//! Product variants (`productVariants` connection): the SKU → variant → inventory item map the
//! inventory push needs, and a report of SKU problems (blank and duplicate SKUs) to show the
//! merchant before inventory sync is switched on.
//!
//! Wire shape: `/work/shopify-graphql-notes.md` §5 (`ProductVariant { id sku inventoryItem { id
//! tracked } product { id status title } }` [C]; `ProductStatus` at 2026-10 = `ACTIVE, ARCHIVED,
//! DRAFT, UNLISTED` [C]; `sku` may be `null` or `""` [S]).

use super::locations::connection;
use super::ShopifyClient;
use crate::channels::store::Listing;
use crate::channels::ClientError;
use crate::domain::ShopDomain;
use crate::ports::Secret;
use serde::Deserialize;
use serde_json::json;

/// A product's status on Shopify. Unknown values are kept, never refused: Shopify adds enum
/// values between versions (`UNLISTED` arrived in 2025-10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductStatus {
    Active,
    Draft,
    Archived,
    /// Sellable, but hidden from the storefront's listings (reachable by direct link).
    Unlisted,
    /// A value this build does not know, as Shopify spelled it.
    Other(String),
}

impl ProductStatus {
    fn parse(raw: &str) -> Self {
        match raw {
            "ACTIVE" => Self::Active,
            "DRAFT" => Self::Draft,
            "ARCHIVED" => Self::Archived,
            "UNLISTED" => Self::Unlisted,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether buyers can order it, so its SKU matters for orders and stock. Unknown statuses
    /// count as sellable: the SKU report should rather over-report than hide a problem.
    pub fn is_sellable(&self) -> bool {
        !matches!(self, Self::Draft | Self::Archived)
    }

    /// Lowercase, as in `product.imported` (`active`, `draft`, …; unknown values as sent).
    pub fn as_lowercase(&self) -> String {
        match self {
            Self::Active => "active".into(),
            Self::Draft => "draft".into(),
            Self::Archived => "archived".into(),
            Self::Unlisted => "unlisted".into(),
            Self::Other(raw) => raw.to_ascii_lowercase(),
        }
    }
}

/// One product variant and what inventory sync needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The variant's GID, e.g. `gid://shopify/ProductVariant/222`.
    pub variant_id: String,
    /// Trimmed; `None` when Shopify has none or only whitespace.
    pub sku: Option<String>,
    /// The inventory item's GID (what `inventorySetQuantities` takes). `None` only if Shopify
    /// left it out, which the schema says it never does.
    pub inventory_item_id: Option<String>,
    /// Whether Shopify tracks its stock. Untracked items must not be pushed; unknown reads as
    /// untracked for that reason.
    pub tracked: bool,
    pub product_id: String,
    pub product_title: String,
    pub product_status: ProductStatus,
}

impl From<Variant> for Listing {
    fn from(v: Variant) -> Self {
        Listing {
            sellable: v.product_status.is_sellable(),
            status: v.product_status.as_lowercase(),
            variant_id: v.variant_id,
            sku: v.sku,
            inventory_item_id: v.inventory_item_id,
            tracked: v.tracked,
            product_id: v.product_id,
            product_title: v.product_title,
        }
    }
}

/// `first` is a variable so the exact request is visible in tests; always 250 (the connection
/// maximum). Cost ≈ 2 + 250 × (1 variant + 1 inventoryItem + 1 product) = 752 < 1000.
pub(super) const VARIANTS_QUERY: &str = "query ChannelSyncVariants($first: Int!, $after: String) { productVariants(first: $first, after: $after) { nodes { id sku inventoryItem { id tracked } product { id status title } } pageInfo { hasNextPage endCursor } } }";

const VARIANTS_PAGE_SIZE: u32 = 250;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawVariant {
    id: Option<String>,
    sku: Option<String>,
    inventory_item: Option<RawInventoryItem>,
    product: Option<RawProduct>,
}

#[derive(Deserialize)]
struct RawInventoryItem {
    id: Option<String>,
    tracked: Option<bool>,
}

#[derive(Deserialize)]
struct RawProduct {
    id: Option<String>,
    status: Option<String>,
    title: Option<String>,
}

fn variant(node: serde_json::Value) -> Result<Variant, ClientError> {
    let raw = RawVariant::deserialize(&node)
        .map_err(|e| ClientError::BadResponse(format!("product variant: {e}")))?;
    let variant_id = raw
        .id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ClientError::BadResponse("a product variant has no id".into()))?;
    let missing =
        |field: &str| ClientError::BadResponse(format!("variant {variant_id} has no {field}"));
    let product = raw.product.ok_or_else(|| missing("product"))?;
    let product_id = product
        .id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("product.id"))?;
    let product_status = ProductStatus::parse(
        product
            .status
            .as_deref()
            .ok_or_else(|| missing("product.status"))?,
    );
    let (inventory_item_id, tracked) = match raw.inventory_item {
        Some(item) => (
            item.id.filter(|s| !s.is_empty()),
            item.tracked.unwrap_or(false),
        ),
        None => (None, false),
    };
    Ok(Variant {
        sku: raw
            .sku
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        inventory_item_id,
        tracked,
        product_id,
        // A product title is cosmetic here (for the merchant's report): missing reads as empty.
        product_title: product.title.unwrap_or_default(),
        product_status,
        variant_id,
    })
}

impl ShopifyClient {
    /// One page of the shop's product variants (250 at most) and the cursor of the next page
    /// (`None` on the last). Callers page by passing the cursor back as `after`.
    pub async fn variants_page(
        &self,
        shop: &ShopDomain,
        token: &Secret,
        after: Option<&str>,
    ) -> Result<(Vec<Variant>, Option<String>), ClientError> {
        let data = self
            .graphql(
                shop,
                token,
                VARIANTS_QUERY,
                json!({ "first": VARIANTS_PAGE_SIZE, "after": after }),
            )
            .await?;
        let page = connection(&data, "productVariants")?;
        let variants = page
            .nodes
            .into_iter()
            .map(variant)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((variants, page.page_info.next_cursor("productVariants")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const TOKEN: &str = "shpat_fake_variants";

    fn shop() -> ShopDomain {
        ShopDomain::parse("demo.myshopify.com").unwrap()
    }

    async fn mount(server: &MockServer, after: Option<&str>, response: serde_json::Value) {
        Mock::given(method("POST"))
            .and(path("/admin/api/2026-10/graphql.json"))
            .and(header("X-Shopify-Access-Token", TOKEN))
            .and(body_json(json!({
                "query": VARIANTS_QUERY,
                "variables": {"first": 250, "after": after}
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(response))
            .expect(1)
            .mount(server)
            .await;
    }

    fn client(server: &MockServer) -> ShopifyClient {
        ShopifyClient::new(Some(server.uri())).unwrap()
    }

    fn v(id: &str, sku: Option<&str>, status: ProductStatus) -> Variant {
        Variant {
            variant_id: id.into(),
            sku: sku.map(str::to_owned),
            inventory_item_id: None,
            tracked: true,
            product_id: "gid://shopify/Product/1".into(),
            product_title: "T".into(),
            product_status: status,
        }
    }

    #[tokio::test]
    async fn two_pages_with_the_exact_requests_and_mapping() {
        let server = MockServer::start().await;
        mount(
            &server,
            None,
            json!({"data": {"productVariants": {"nodes": [
                {"id": "gid://shopify/ProductVariant/222", "sku": "  ABC-1 ",
                 "inventoryItem": {"id": "gid://shopify/InventoryItem/1001", "tracked": true},
                 "product": {"id": "gid://shopify/Product/333", "status": "ACTIVE", "title": "T-Shirt"}},
                {"id": "gid://shopify/ProductVariant/223", "sku": "   ",
                 "inventoryItem": {"id": "gid://shopify/InventoryItem/1002", "tracked": false},
                 "product": {"id": "gid://shopify/Product/334", "status": "DRAFT", "title": "Gift card"}}
            ], "pageInfo": {"hasNextPage": true, "endCursor": "v-cur-1"}}}}),
        )
        .await;
        mount(
            &server,
            Some("v-cur-1"),
            json!({"data": {"productVariants": {"nodes": [
                {"id": "gid://shopify/ProductVariant/224", "sku": null, "inventoryItem": null,
                 "product": {"id": "gid://shopify/Product/335", "status": "SOMETHING_NEW", "title": null}},
                {"id": "gid://shopify/ProductVariant/225", "sku": "X",
                 "inventoryItem": {"id": "gid://shopify/InventoryItem/1003", "tracked": true},
                 "product": {"id": "gid://shopify/Product/336", "status": "UNLISTED", "title": "Hidden"}},
                {"id": "gid://shopify/ProductVariant/226", "sku": "Y",
                 "inventoryItem": {"id": "gid://shopify/InventoryItem/1004", "tracked": true},
                 "product": {"id": "gid://shopify/Product/337", "status": "ARCHIVED", "title": "Old"}}
            ], "pageInfo": {"hasNextPage": false, "endCursor": "v-cur-2"}}}}),
        )
        .await;
        let c = client(&server);
        let t = Secret::new(TOKEN);
        let (first, next) = c.variants_page(&shop(), &t, None).await.unwrap();
        assert_eq!(next.as_deref(), Some("v-cur-1"));
        assert_eq!(
            first[0],
            Variant {
                variant_id: "gid://shopify/ProductVariant/222".into(),
                sku: Some("ABC-1".into()),
                inventory_item_id: Some("gid://shopify/InventoryItem/1001".into()),
                tracked: true,
                product_id: "gid://shopify/Product/333".into(),
                product_title: "T-Shirt".into(),
                product_status: ProductStatus::Active,
            }
        );
        assert_eq!(first[1].sku, None);
        assert!(!first[1].tracked);
        assert_eq!(first[1].product_status, ProductStatus::Draft);

        let (second, next) = c.variants_page(&shop(), &t, next.as_deref()).await.unwrap();
        assert_eq!(next, None);
        assert_eq!(second[0].sku, None);
        assert_eq!(second[0].inventory_item_id, None);
        assert!(!second[0].tracked);
        assert_eq!(second[0].product_title, "");
        assert_eq!(
            second[0].product_status,
            ProductStatus::Other("SOMETHING_NEW".into())
        );
        assert_eq!(second[1].product_status, ProductStatus::Unlisted);
        assert_eq!(second[2].product_status, ProductStatus::Archived);
    }

    #[tokio::test]
    async fn malformed_variants_are_bad_responses() {
        for (node, needle) in [
            (
                json!({"sku": "A", "product": {"id": "p", "status": "ACTIVE", "title": "t"}}),
                "no id",
            ),
            (
                json!({"id": "gid://shopify/ProductVariant/9", "sku": "A"}),
                "variant gid://shopify/ProductVariant/9 has no product",
            ),
            (
                json!({"id": "gid://shopify/ProductVariant/9", "product": {"id": "p", "title": "t"}}),
                "product.status",
            ),
            (
                json!({"id": "gid://shopify/ProductVariant/9", "sku": 5,
                       "product": {"id": "p", "status": "ACTIVE"}}),
                "product variant:",
            ),
        ] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
                    "productVariants": {"nodes": [node], "pageInfo": {"hasNextPage": false}}}})))
                .expect(1)
                .mount(&server)
                .await;
            let err = client(&server)
                .variants_page(&shop(), &Secret::new(TOKEN), None)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, ClientError::BadResponse(m) if m.contains(needle)),
                "{needle}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn unauthorized_is_classified() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401))
            .expect(1)
            .mount(&server)
            .await;
        assert!(matches!(
            client(&server)
                .variants_page(&shop(), &Secret::new(TOKEN), None)
                .await,
            Err(ClientError::Unauthorized)
        ));
    }

    #[test]
    fn report_counts_only_sellable_products() {
        use crate::channels::store::{sku_report, SkuReport};
        use std::collections::BTreeMap;
        use ProductStatus::*;
        let variants = vec![
            v("v1", Some("A"), Active),
            v("v2", Some("A"), Unlisted),
            v("v3", Some("A"), Draft),
            v("v4", Some("B"), Active),
            v("v5", Some("B"), Archived),
            v("v6", None, Active),
            v("v7", None, Draft),
            v("v8", None, Other("NEW".into())),
            v("v9", Some("C"), Other("NEW".into())),
            v("v10", Some("C"), Active),
            v("v11", Some("c"), Active),
        ];
        let listings: Vec<Listing> = variants.into_iter().map(Listing::from).collect();
        let report = sku_report(&listings);
        assert_eq!(report.blank, vec!["v6".to_owned(), "v8".to_owned()]);
        assert_eq!(
            report.duplicates,
            BTreeMap::from([
                ("A".to_owned(), vec!["v1".to_owned(), "v2".to_owned()]),
                ("C".to_owned(), vec!["v9".to_owned(), "v10".to_owned()]),
            ])
        );
        assert_eq!(sku_report(&[]), SkuReport::default());
    }
}
