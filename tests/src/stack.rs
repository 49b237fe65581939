//! A local stack on moto: the table, queues and secrets `infra/template.yaml` declares, with
//! the sample events' fake secrets, and the environment every function reads. Used by
//! `make lambda-local` (through the `local-stack` binary, for `cargo lambda watch`) and by the
//! test that feeds every file of `events/` to its function's handler.

use shared::aws::{provision, DynamoStore, SecretsVault};
use shared::domain::TenantId;
use shared::ports::{Secret, Tenants, Vault};

/// The Shopify app secret the sample events are signed with (`scripts/make-events.py`).
pub const EVENTS_SHOPIFY_SECRET: &str = "shpss_fake_secret_for_tests_only";
/// The `dev` tenant's bearer token in the sample API events.
pub const EVENTS_TENANT_TOKEN: &str = "cs_fake_event_token";
/// The TikTok app key and secret the sample TikTok delivery is signed with.
pub const EVENTS_TIKTOK_APP: (&str, &str) = ("fake_app_key", "fake_app_secret");
/// The eBay deletion endpoint's verification token of the sample challenge.
pub const EVENTS_EBAY_VERIFICATION_TOKEN: &str = "fake-verification-token-0123456789abcdef";
/// The public URL the sample eBay challenge was answered for.
pub const PUBLIC_URL: &str = "https://sync.example";

/// Every function's environment on the local stack, `(name, value)`, sorted by name: the
/// template's variables (table, secrets prefix, queue URLs, app secret ids, public and
/// dashboard URLs, eBay's token) plus the AWS SDK's endpoint, region and fake credentials.
pub async fn provision_stack(
    config: &shared::aws::SdkConfig,
    endpoint: &str,
    stack: &str,
) -> Result<Vec<(String, String)>, String> {
    let dynamo = aws_sdk_dynamodb::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let table = format!("{stack}-table");
    let e = |what: &str| {
        let what = what.to_owned();
        move |err: shared::ports::PortError| format!("{what}: {err}")
    };
    provision::create_table(&dynamo, &table)
        .await
        .map_err(e("table"))?;
    let queue = |name: String, visibility: u32| {
        let sqs = sqs.clone();
        async move {
            provision::create_queue_with_dlq(&sqs, &name, 5, visibility)
                .await
                .map_err(|err| format!("queue {name}: {err}"))
        }
    };
    let (channel_events, channel_events_dlq) =
        queue(format!("{stack}-channel-events"), 180).await?;
    let (wms_events, wms_events_dlq) = queue(format!("{stack}-wms-events"), 300).await?;
    let (wms_orders, _) = queue(format!("{stack}-wms-orders.fifo"), 60).await?;
    let (inventory_push, _) = queue(format!("{stack}-inventory-push.fifo"), 900).await?;
    let (jobs, jobs_dlq) = queue(format!("{stack}-jobs"), 900).await?;

    // App secrets are read by id, outside the connections' prefix.
    let apps = SecretsVault::from_config(config, "");
    let put = |id: String, value: String| {
        let apps = &apps;
        async move {
            apps.put(&id, &Secret::new(value))
                .await
                .map_err(|err| format!("secret {id}: {err}"))
                .map(|()| id)
        }
    };
    let shopify_app = put(
        format!("{stack}/apps/shopify"),
        serde_json::json!({"client_id": "fake-client-id", "client_secret": EVENTS_SHOPIFY_SECRET})
            .to_string(),
    )
    .await?;
    let tiktok_app = put(
        format!("{stack}/apps/tiktok"),
        serde_json::json!({"client_id": EVENTS_TIKTOK_APP.0, "client_secret": EVENTS_TIKTOK_APP.1})
            .to_string(),
    )
    .await?;
    let admin_token = put(
        format!("{stack}/admin-token"),
        format!("cs_admin_fake_{stack}"),
    )
    .await?;

    // The sample API events' tenant.
    let store = DynamoStore::new(dynamo, table.clone());
    let dev = TenantId::parse("dev").map_err(|err| err.to_string())?;
    store
        .put_token(&dev, &shared::http::token_sha256(EVENTS_TENANT_TOKEN))
        .await
        .map_err(e("dev tenant"))?;

    let mut env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("TABLE_NAME", table),
        ("SECRETS_PREFIX", format!("channel-sync/{stack}/")),
        ("CHANNEL_EVENTS_QUEUE_URL", channel_events),
        ("CHANNEL_EVENTS_DLQ_URL", channel_events_dlq),
        ("WMS_EVENTS_QUEUE_URL", wms_events),
        ("WMS_EVENTS_DLQ_URL", wms_events_dlq),
        ("WMS_ORDERS_QUEUE_URL", wms_orders),
        ("INVENTORY_PUSH_QUEUE_URL", inventory_push),
        ("JOBS_QUEUE_URL", jobs),
        ("JOBS_DLQ_URL", jobs_dlq),
        ("RECONCILE_SCHEDULE", "rate(10 minutes)".to_owned()),
        ("SHOPIFY_APP_SECRET_ID", shopify_app),
        ("TIKTOK_APP_SECRET_ID", tiktok_app),
        ("ADMIN_TOKEN_SECRET_ID", admin_token),
        ("CHANNEL_SYNC_PUBLIC_URL", PUBLIC_URL.to_owned()),
        (
            "CHANNEL_SYNC_DASHBOARD_URL",
            format!("{PUBLIC_URL}/integrations"),
        ),
        (
            "EBAY_VERIFICATION_TOKEN",
            EVENTS_EBAY_VERIFICATION_TOKEN.to_owned(),
        ),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.sort();
    Ok(env)
}
