//! The demo's rounds: orders placed, the simulated WMS dispatching and moving stock, and the counts.

use super::*;

/// Connects the stores, then runs rounds until the stop signal.
pub(super) async fn drive(
    api: &Api,
    stores: &Stores,
    options: &DemoOptions,
    say: &impl Fn(String),
    stop: &mut tokio::sync::watch::Receiver<bool>,
    summary: &mut DemoSummary,
) -> Result<(), String> {
    // serve answers once its store is open.
    let mut up = false;
    for _ in 0..200 {
        if api.get("/wms/outbox?after=0").await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !up {
        return Err("serve did not start".into());
    }
    let connections = connect(api, stores).await?;
    let base = &api.base;
    let token = &api.token;
    say(format!(
        "\nchannel-sync demo: serving {base} with seven simulated stores on loopback \
         (Shopify {}, WooCommerce {}, Magento {}, TikTok Shop {}, Etsy {}, eBay {}, Veeqo {})",
        stores.shopify.uri(),
        stores.woo.uri(),
        stores.magento.uri(),
        stores.tiktok.uri(),
        stores.etsy.uri(),
        stores.ebay.uri(),
        stores.veeqo.uri()
    ));
    say(format!(
        "connections: shopify {}  woocommerce {}  magento {}\n             tiktok {}  etsy {}  ebay {}  veeqo {}",
        connections.shopify,
        connections.woo,
        connections.magento,
        connections.tiktok,
        connections.etsy,
        connections.ebay,
        connections.veeqo
    ));
    say("\nWhile it runs, in another terminal:".into());
    say(format!(
        "  export CHANNEL_SYNC_URL={base} CHANNEL_SYNC_TOKEN={token}"
    ));
    say("  curl -s \"$CHANNEL_SYNC_URL/wms/outbox?after=0\" -H \"Authorization: Bearer $CHANNEL_SYNC_TOKEN\"   # the WMS outbox".into());
    say(format!(
        "  curl -s \"$CHANNEL_SYNC_URL/api/connections/{}/runs\" -H \"Authorization: Bearer $CHANNEL_SYNC_TOKEN\"   # inventory runs",
        connections.shopify
    ));
    say("  cargo run -p local --bin channel-sync -- sku-audit   # the SKU audit".into());
    say(format!(
        "  open {base} in a browser                           # the Integrations page"
    ));
    say("Ctrl-C stops the demo and deletes its data.\n".into());

    // The WMS's catalogue: the tee and its 3-pack.
    api.wms(json!({"type": "product.upserted", "tenant": "dev", "sku": SKU, "name": "Tee"}))
        .await?;
    api.wms(
        json!({"type": "product.upserted", "tenant": "dev", "sku": BUNDLE,
        "name": "Tee 3-pack", "components": [{"sku": SKU, "quantity": 3}]}),
    )
    .await?;

    let channel_of: BTreeMap<&str, &str> = [
        (connections.shopify.as_str(), "shopify"),
        (connections.woo.as_str(), "woocommerce"),
        (connections.magento.as_str(), "magento"),
        (connections.tiktok.as_str(), "tiktok"),
        (connections.etsy.as_str(), "etsy"),
        (connections.ebay.as_str(), "ebay"),
        (connections.veeqo.as_str(), "veeqo"),
    ]
    .into_iter()
    .collect();
    let mut cursor = "0".to_owned();
    let mut shipped: BTreeSet<(String, String)> = BTreeSet::new();
    // Orders the WMS has shipped since its last stock level: the next level accounts for them
    // (their reservations are released), as a real WMS says.
    let mut applied: Vec<Value> = Vec::new();
    let mut round: u64 = 0;
    loop {
        round += 1;
        // The stores take one order each (odd rounds: the bundle).
        let sku = if round % 2 == 1 { SKU } else { BUNDLE };
        let id = 1000 + round;
        let line = id * 10 + 1;
        stores.shopify_orders.add(id, &[(line, sku, 1)]);
        let order = shopify::rest_order(id, &[(line, sku, 1)]);
        api.deliver(
            "/webhooks/shopify",
            shopify::order_delivery(SHOPIFY_APP_SECRET, SHOP, &format!("demo-{id}"), &order),
        )
        .await?;
        say(format!(
            "shopify      order #{id} (1 × {sku}) → signed orders/create webhook"
        ));

        let woo_id = 2000 + round;
        let order = woocommerce::order(woo_id, "processing", "2026-11-28T10:00:00", sku);
        stores.woo_orders.add(order.clone());
        let secret = woocommerce::webhook_secret(&stores.woo)
            .await
            .ok_or("the WooCommerce store has no webhook")?;
        api.deliver(
            &format!("/webhooks/woocommerce/{}", connections.woo),
            woocommerce::delivery(&secret, "order.created", &format!("demo-{woo_id}"), &order),
        )
        .await?;
        say(format!(
            "woocommerce  order {woo_id} (2 × {sku}) → signed order.created webhook"
        ));

        let magento_id = 3000 + round;
        stores
            .magento_orders
            .add(magento::order(magento_id, sku, 1));
        say(format!(
            "magento      order {magento_id} (1 × {sku}) → waits for the next poll (no webhooks)"
        ));
        let tiktok_id = format!("5766536881352{round:05}");
        stores
            .tiktok_orders
            .add(tiktok::order(&tiktok_id, false, 1764234000, &[sku]));
        api.deliver(
            "/webhooks/tiktok",
            tiktok::webhook(
                &stores.tiktok_app,
                1,
                &format!("demo-{tiktok_id}"),
                TIKTOK_SHOP,
                json!({"order_id": tiktok_id, "order_status": "AWAITING_SHIPMENT"}),
            ),
        )
        .await?;
        say(format!(
            "tiktok       order {tiktok_id} (1 × {sku}) → signed order status webhook"
        ));

        let receipt = 54000 + round;
        stores
            .etsy_receipts
            .add(etsy::receipt(receipt, &[(sku, 1)], json!([])));
        api.deliver(
            "/webhooks/etsy",
            etsy::order_paid(
                ETSY_WHSEC,
                ETSY_SHOP,
                receipt,
                &format!("msg_demo_{receipt}"),
                chrono::Utc::now().timestamp(),
            ),
        )
        .await?;
        say(format!(
            "etsy         receipt {receipt} (1 × {sku}) → signed order.paid webhook"
        ));

        let ebay_id = format!("12-34567-{round:05}");
        stores
            .ebay_orders
            .add(ebay::order(&ebay_id, &[("L-1", sku, 1)]));
        let body = ebay::notification(
            "ORDER_CONFIRMATION",
            &format!("demo-{ebay_id}"),
            json!({"orderId": ebay_id, "sellerId": EBAY_SELLER}),
        );
        let signature = stores.ebay_signer.header(&body);
        api.deliver(
            "/webhooks/ebay",
            (
                vec![
                    ("content-type", "application/json".to_owned()),
                    ("x-ebay-signature", signature),
                ],
                body,
            ),
        )
        .await?;
        say(format!(
            "ebay         order {ebay_id} (1 × {sku}) → signed ORDER_CONFIRMATION notification"
        ));

        let veeqo_id = 6000 + round;
        stores
            .veeqo_account
            .add_order(veeqo::order(veeqo_id, sku, false, VEEQO_WAREHOUSE, false));
        say(format!(
            "veeqo        order {veeqo_id} (2 × {sku}) → waits for the next poll (no webhooks)"
        ));
        for channel in CHANNELS {
            *summary.orders_placed.entry(channel.into()).or_default() += 1;
        }

        // The WMS's stock level moves; Live sync pushes it (and the bundle) to every store.
        let level = stock_level(round);
        let accounts_for = std::mem::take(&mut applied);
        let named = accounts_for.len();
        api.wms(json!({"type": "stock.changed", "tenant": "dev", "sku": SKU,
            "available": level, "at": chrono::Utc::now().to_rfc3339(),
            "orders": accounts_for}))
            .await?;
        say(format!(
            "wms          stock {SKU} = {level} (bundle {BUNDLE} = {}), accounting for {named} shipped order(s)",
            level / 3
        ));

        tokio::select! {
            _ = tokio::time::sleep(options.pace) => {}
            _ = stop.changed() => {}
        }

        // The WMS reads its outbox and dispatches what was imported.
        let page = api.get(&format!("/wms/outbox?after={cursor}")).await?;
        if let Some(next) = page["next"].as_str() {
            cursor = next.to_owned();
        }
        for message in page["messages"].as_array().into_iter().flatten() {
            let connection = message["connection"].as_str().unwrap_or_default();
            let channel = channel_of
                .get(connection)
                .copied()
                .unwrap_or("?")
                .to_owned();
            let order = message["channel_order_id"]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            match message["type"].as_str().unwrap_or_default() {
                "order.imported" => {
                    *summary.orders_imported.entry(channel.clone()).or_default() += 1;
                    say(format!(
                        "outbox       order.imported {channel} {order} {}",
                        if message["hold_reasons"]
                            .as_array()
                            .is_some_and(|h| !h.is_empty())
                        {
                            format!("HELD {}", message["hold_reasons"])
                        } else {
                            String::new()
                        }
                    ));
                    if channel_of.contains_key(connection)
                        && shipped.insert((connection.to_owned(), order.clone()))
                    {
                        applied.push(json!({"channel": message["channel"],
                            "shop": message["shop"], "channel_order_id": order}));
                        let number = format!("DEMO{}", order.trim_start_matches('0'));
                        api.wms(json!({"type": "shipment.dispatched", "tenant": "dev",
                            "connection": connection, "channel_order_id": order,
                            "carrier": "DHL", "tracking_number": number,
                            "tracking_url": format!("https://track.example/{number}")}))
                            .await?;
                        say(format!(
                            "wms          shipped {channel} {order}: DHL {number}"
                        ));
                    }
                }
                "tracking.exported" => {
                    *summary
                        .tracking_exported
                        .entry(channel.clone())
                        .or_default() += 1;
                    say(format!(
                        "outbox       tracking.exported {channel} {order} → the store has the tracking"
                    ));
                }
                other => say(format!(
                    "outbox       {other} {channel} {}",
                    message["sku"].as_str().unwrap_or(&order)
                )),
            }
        }
        count_store_calls(stores, summary).await;
        say(format!(
            "stores       tracking writes {:?}  stock pushes {:?}",
            summary.tracking_calls, summary.stock_pushes
        ));
        if let Some(progress) = &options.progress {
            let _ = progress.send(summary.clone());
        }
        if *stop.borrow() {
            say("\nstopping…".into());
            return Ok(());
        }
    }
}

/// Counts the tracking and stock writes each store received.
pub(super) async fn count_store_calls(stores: &Stores, summary: &mut DemoSummary) {
    let shopify = stores.shopify.received_requests().await.unwrap_or_default();
    let operation = |name: &str| {
        shopify
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains(name))
            .count() as u32
    };
    let woo = stores.woo.received_requests().await.unwrap_or_default();
    let woo_notes = woo
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/notes"))
        .count() as u32;
    let woo_batches = fakes::requests_to(
        &stores.woo,
        "POST",
        &format!("{}/products/batch", woocommerce::WC),
    )
    .await
    .len() as u32;
    let magento = stores.magento.received_requests().await.unwrap_or_default();
    let ships = magento
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/ship"))
        .count() as u32;
    let source_items = magento
        .iter()
        .filter(|r| {
            r.method.as_str() == "POST"
                && r.url.path() == format!("{}/inventory/source-items", magento::BASE)
                && json_of(r)["sourceItems"].is_array()
        })
        .count() as u32;
    let calls = |requests: &[wiremock::Request], verb: &str, path: &dyn Fn(&str) -> bool| {
        requests
            .iter()
            .filter(|r| r.method.as_str() == verb && path(r.url.path()))
            .count() as u32
    };
    let tiktok = stores.tiktok.received_requests().await.unwrap_or_default();
    let etsy = stores.etsy.received_requests().await.unwrap_or_default();
    let ebay = stores.ebay.received_requests().await.unwrap_or_default();
    let veeqo = stores.veeqo.received_requests().await.unwrap_or_default();
    summary.tracking_calls = [
        ("shopify", operation("ChannelSyncFulfillmentCreate")),
        ("woocommerce", woo_notes),
        ("magento", ships),
        (
            "tiktok",
            calls(&tiktok, "POST", &|p| {
                p.starts_with("/fulfillment/202309/orders/") && p.ends_with("/packages")
            }),
        ),
        (
            "etsy",
            calls(&etsy, "POST", &|p| {
                p.starts_with(&format!("/v3/application/shops/{ETSY_SHOP}/receipts/"))
                    && p.ends_with("/tracking")
            }),
        ),
        (
            "ebay",
            calls(&ebay, "POST", &|p| p.ends_with("/shipping_fulfillment")),
        ),
        ("veeqo", calls(&veeqo, "POST", &|p| p == "/shipments")),
    ]
    .into_iter()
    .map(|(c, n)| (c.to_owned(), n))
    .collect();
    summary.stock_pushes = [
        ("shopify", operation("ChannelSyncSetAvailable")),
        ("woocommerce", woo_batches),
        ("magento", source_items),
        (
            "tiktok",
            calls(&tiktok, "POST", &|p| {
                p.starts_with("/product/202309/products/") && p.ends_with("/inventory/update")
            }),
        ),
        (
            "etsy",
            calls(&etsy, "PUT", &|p| {
                p.starts_with("/v3/application/listings/") && p.ends_with("/inventory")
            }),
        ),
        (
            "ebay",
            calls(&ebay, "POST", &|p| {
                p == "/sell/inventory/v1/bulk_update_price_quantity"
            }),
        ),
        (
            "veeqo",
            calls(&veeqo, "PUT", &|p| {
                p.starts_with("/sellables/") && p.ends_with("/stock_entry")
            }),
        ),
    ]
    .into_iter()
    .map(|(c, n)| (c.to_owned(), n))
    .collect();
}
