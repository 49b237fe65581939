//! WMS stock levels and products into the snapshot, releases of the reservations the WMS
//! applied, and the Live trigger for what changed. The `wms-events` consumer routes
//! `stock.changed` and `product.upserted` here once it has parsed them.

use super::*;

/// What the stock handler needs.
pub struct StockDeps {
    pub records: Arc<dyn Records>,
    pub live: Arc<LiveTrigger>,
}

/// Applies one parsed WMS `stock.changed` or `product.upserted` message.
pub async fn handle_stock(deps: &StockDeps, message: WmsInbound) -> Disposition {
    match stock_message(deps, message).await {
        Ok(outcome) => Disposition::Done(outcome),
        Err(e) => Disposition::Retry(e.to_string()),
    }
}

async fn stock_message(deps: &StockDeps, message: WmsInbound) -> PortResult<String> {
    match message {
        WmsInbound::StockChanged {
            tenant,
            sku,
            available,
            at,
            orders,
            ..
        } => {
            let level = stock::StockLevel { available, at };
            let newest = stock::apply_stock(&*deps.records, &tenant, &sku, &level).await?;
            let mut changed = Vec::new();
            if newest {
                changed.push(sku.clone());
            }
            // The WMS applied these orders: their units are in its stock now.
            for order in &orders {
                let key =
                    crate::keys::order(order.channel, &order.shop, order.channel_order_id.as_str());
                changed.extend(stock::release(&*deps.records, &tenant, &key).await?);
            }
            changed.sort();
            changed.dedup();
            let live = deps.live.changed(&tenant, &changed).await?;
            Ok(if newest {
                format!("stock of {sku} is {available}; {live} Live connection(s) notified")
            } else {
                format!("stale stock level for {sku} ignored")
            })
        }
        WmsInbound::ProductUpserted {
            tenant,
            sku,
            name,
            components,
            ..
        } => {
            let components = components.map(|list| {
                list.into_iter()
                    .map(|c| Component {
                        sku: c.sku,
                        quantity: c.quantity,
                    })
                    .collect()
            });
            let up =
                stock::upsert_product(&*deps.records, &tenant, &sku, &name, components).await?;
            if let Some(problem) = &up.problem {
                tracing::warn!(tenant = %tenant, sku = %sku, problem = %problem, "bundle definition refused");
            }
            if up.bundle_changed {
                deps.live
                    .changed(&tenant, std::slice::from_ref(&sku))
                    .await?;
            }
            Ok(match up.problem {
                Some(p) => format!("product {sku} stored; bundle refused: {p}"),
                None => format!("product {sku} stored"),
            })
        }
        WmsInbound::ShipmentDispatched { .. } => Ok("not a stock message".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// inventory-push
