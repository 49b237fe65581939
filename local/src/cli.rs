//! The client commands: `channel-sync sync CONNECTION [--dry-run]`, `channel-sync
//! sku-audit` and `channel-sync disconnect CONNECTION`, talking to a running `channel-sync serve` over its HTTP API.
//!
//! `CHANNEL_SYNC_URL` (default `http://{CHANNEL_SYNC_ADDR}`) and the tenant token
//! `CHANNEL_SYNC_TOKEN` (default: `CHANNEL_SYNC_DEV_TOKEN`, then `{data}/dev-token`).

use serde_json::Value;
use std::time::Duration;

/// Where the API is and who we are.
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl Client {
    pub fn from_env() -> Result<Self, String> {
        let base = var("CHANNEL_SYNC_URL").unwrap_or_else(|| {
            format!(
                "http://{}",
                var("CHANNEL_SYNC_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into())
            )
        });
        let token = match var("CHANNEL_SYNC_TOKEN").or_else(|| var("CHANNEL_SYNC_DEV_TOKEN")) {
            Some(t) => t,
            None => {
                let data = var("CHANNEL_SYNC_DATA").unwrap_or_else(|| ".channel-sync".into());
                let path = std::path::Path::new(&data).join("dev-token");
                std::fs::read_to_string(&path)
                    .map(|t| t.trim().to_owned())
                    .map_err(|e| format!("no CHANNEL_SYNC_TOKEN and no {}: {e}", path.display()))?
            }
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            // The server's sentence, which says what to do; its code only when it has none.
            let message = body["message"]
                .as_str()
                .or_else(|| body["error"].as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| body.to_string());
            return Err(format!("{message} ({})", status.as_u16()));
        }
        Ok(body)
    }
}

/// Starts a Sync now run and follows it with a progress bar until it ends. Returns whether
/// it succeeded without failures.
pub async fn sync(connection: &str, dry_run: bool) -> Result<bool, String> {
    let client = Client::from_env()?;
    let started = client
        .call(
            reqwest::Method::POST,
            &format!("/api/connections/{connection}/sync"),
            Some(serde_json::json!({ "dry_run": dry_run })),
        )
        .await?;
    let id = started["run"]["id"]
        .as_str()
        .ok_or("the API answered without a run id")?
        .to_owned();
    eprintln!("run {id}{}", if dry_run { " (dry run)" } else { "" });
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} SKUs  {msg}")
            .map_err(|e| e.to_string())?,
    );
    let run = loop {
        let run = client
            .call(reqwest::Method::GET, &format!("/api/runs/{id}"), None)
            .await?;
        if let Some(total) = run["total"].as_u64() {
            bar.set_length(total);
        }
        bar.set_position(run["done"].as_u64().unwrap_or(0));
        bar.set_message(format!(
            "{} pushed, {} failed",
            run["pushed"].as_u64().unwrap_or(0),
            run["failed"].as_u64().unwrap_or(0)
        ));
        let state = run["state"].as_str().unwrap_or("");
        if matches!(state, "succeeded" | "completed_with_failures" | "failed") {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    bar.finish();
    println!(
        "{}: {} of {} SKUs, {} pushed, {} unchanged, {} failed, {} channel call(s){}",
        run["state"].as_str().unwrap_or("?"),
        run["done"],
        run["total"],
        run["pushed"],
        run["unchanged"],
        run["failed"],
        run["calls"],
        run["message"]
            .as_str()
            .map(|m| format!(" — {m}"))
            .unwrap_or_default()
    );
    for sample in run["sample"].as_array().into_iter().flatten() {
        println!(
            "  would set {} = {}",
            sample["sku"].as_str().unwrap_or("?"),
            sample["quantity"]
        );
    }
    for failure in run["failures"].as_array().into_iter().flatten() {
        println!(
            "  {} [{}] {}",
            failure["sku"].as_str().unwrap_or("?"),
            failure["code"].as_str().unwrap_or("?"),
            failure["reason"].as_str().unwrap_or("")
        );
    }
    Ok(run["state"] == "succeeded")
}

/// Prints the SKU audit. Returns whether every connection is ready.
pub async fn sku_audit(json: bool) -> Result<bool, String> {
    let client = Client::from_env()?;
    let audit = client
        .call(reqwest::Method::GET, "/api/sku-audit", None)
        .await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&audit).unwrap_or_default()
        );
    } else {
        println!("WMS products: {}", audit["wms_products"]);
        for problem in audit["bundle_problems"].as_array().into_iter().flatten() {
            println!(
                "  bundle {}: {}",
                problem["sku"].as_str().unwrap_or("?"),
                problem["reason"].as_str().unwrap_or("")
            );
        }
        for c in audit["connections"].as_array().into_iter().flatten() {
            println!(
                "{} {} ({}): {}",
                c["channel"].as_str().unwrap_or("?"),
                c["shop"].as_str().unwrap_or("?"),
                c["connection"].as_str().unwrap_or("?"),
                if c["ready"] == true {
                    "ready".to_owned()
                } else {
                    let why: Vec<&str> = c["not_ready_because"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    format!("NOT ready: {}", why.join("; "))
                }
            );
            println!("  mapped SKUs:              {}", c["mapped"]);
            println!("  blank SKUs:               {}", c["blank_skus"]["total"]);
            println!(
                "  duplicate SKUs:           {}",
                c["duplicate_skus"]["total"]
            );
            for (label, key) in [
                ("unknown to the WMS:      ", "unknown_to_wms"),
                ("missing on the channel:  ", "missing_on_channel"),
            ] {
                let skus: Vec<&str> = c[key]["skus"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .take(20)
                    .collect();
                println!("  {label} {} {}", c[key]["total"], skus.join(", "));
            }
        }
    }
    Ok(audit["connections"]
        .as_array()
        .is_some_and(|cs| cs.iter().all(|c| c["ready"] == true)))
}

/// Disconnects a connection and says what the channel revoked (and what the merchant must
/// still remove in the store's admin). Returns whether our access was revoked or there was
/// nothing left to revoke.
pub async fn disconnect(connection: &str) -> Result<bool, String> {
    let client = Client::from_env()?;
    let done = client
        .call(
            reqwest::Method::DELETE,
            &format!("/api/connections/{connection}"),
            None,
        )
        .await?;
    let revocation = done["revocation"].as_str().unwrap_or("?");
    println!(
        "{} {} ({}): {}{}",
        done["channel"].as_str().unwrap_or("?"),
        done["shop"].as_str().unwrap_or("?"),
        done["id"].as_str().unwrap_or(connection),
        done["status"].as_str().unwrap_or("?"),
        if done["already_disconnected"] == true {
            " (already)"
        } else {
            ""
        }
    );
    println!("  credentials deleted; orders, runs and messages kept");
    println!("  access on the channel: {revocation}");
    if let Some(note) = done["revocation_note"].as_str() {
        println!("  {note}");
    }
    Ok(matches!(
        revocation,
        "revoked" | "no_credentials" | "not_revocable"
    ))
}
