//! `channel-sync`: the single-machine runner.

use clap::{Parser, Subcommand};

/// See `local/Cargo.toml` (mimalloc) and docs/performance.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// channel-sync on one machine: every route and consumer in one process, on the embedded
/// store. Configured from the environment (see the README).
#[derive(Parser)]
#[command(name = "channel-sync", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every route and run every consumer (the default).
    Serve,
    /// Push every mapped SKU of a connection now (Sync now) and follow the run.
    Sync {
        /// The connection id (`c_…`).
        connection: String,
        /// Plan only: show what would be pushed, write nothing to the channel.
        #[arg(long)]
        dry_run: bool,
    },
    /// Disconnect a connection: revoke what the channel lets us, delete its credentials,
    /// keep its history.
    Disconnect {
        /// The connection id (`c_…`).
        connection: String,
    },
    /// Per connection: blank, duplicate and unmatched SKUs (exit 1 when not ready).
    SkuAudit {
        /// Print the whole audit as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The whole product with no store: serve plus simulated Shopify, WooCommerce, Magento,
    /// TikTok Shop, Etsy, eBay and Veeqo stores on loopback, orders, tracking and stock flowing
    /// until Ctrl-C.
    #[cfg(feature = "demo")]
    Demo {
        /// Seconds between two rounds of orders.
        #[arg(long, default_value_t = 4)]
        pace: u64,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The demo prints its own story; serve's log (RUST_LOG=info) would drown it.
    #[cfg(feature = "demo")]
    let default_filter = if matches!(cli.command, Some(Command::Demo { .. })) {
        "error"
    } else {
        "info"
    };
    #[cfg(not(feature = "demo"))]
    let default_filter = "info";
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .init();
    let client = |result: Result<bool, String>| match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("channel-sync: {e}");
            std::process::ExitCode::from(2)
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Sync {
            connection,
            dry_run,
        } => client(local::cli::sync(&connection, dry_run).await),
        Command::SkuAudit { json } => client(local::cli::sku_audit(json).await),
        #[cfg(feature = "demo")]
        Command::Demo { pace } => demo(pace).await,
        Command::Disconnect { connection } => client(local::cli::disconnect(&connection).await),
        Command::Serve => {
            let result = match local::Config::from_env() {
                Ok(config) => local::serve(config, local::shutdown_signal()).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("channel-sync: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

/// `channel-sync demo` on `CHANNEL_SYNC_ADDR` (default `127.0.0.1:3000`), its data in a
/// temporary directory deleted on exit.
#[cfg(feature = "demo")]
async fn demo(pace: u64) -> std::process::ExitCode {
    let fail = |e: String| {
        eprintln!("channel-sync demo: {e}");
        std::process::ExitCode::FAILURE
    };
    let addr = std::env::var("CHANNEL_SYNC_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            return fail(format!(
                "cannot listen on {addr}: {e} (is `make run` running? stop it, or set CHANNEL_SYNC_ADDR)"
            ))
        }
    };
    let data = match tempfile::Builder::new()
        .prefix("channel-sync-demo-")
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => return fail(format!("cannot create a temporary data directory: {e}")),
    };
    let options = local::demo::DemoOptions {
        pace: std::time::Duration::from_secs(pace.max(1)),
        verbose: true,
        progress: None,
    };
    match local::demo::run(listener, data.path(), options, local::shutdown_signal()).await {
        Ok(summary) => {
            println!(
                "placed {:?}\nimported {:?}\ntracking exported {:?}\nstock pushes {:?}",
                summary.orders_placed,
                summary.orders_imported,
                summary.tracking_exported,
                summary.stock_pushes
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
