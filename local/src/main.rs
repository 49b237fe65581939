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
    match cli.command.unwrap_or(Command::Serve) {
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
