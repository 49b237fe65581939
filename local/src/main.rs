//! `channel-sync`: the single-machine runner.

use clap::{Parser, Subcommand};

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
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
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
