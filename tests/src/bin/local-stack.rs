//! `local-stack ENDPOINT [STACK]`: provisions the template's table, queues and secrets on the
//! moto at ENDPOINT and prints every function's environment as `KEY=VALUE` lines (the format
//! of `cargo lambda watch --env-file`). `scripts/lambda-local.sh` runs it.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(endpoint) = args.next() else {
        eprintln!("usage: local-stack ENDPOINT [STACK]   (ENDPOINT: a running moto_server, e.g. http://127.0.0.1:5050)");
        return std::process::ExitCode::from(2);
    };
    let stack = args.next().unwrap_or_else(|| "local".to_owned());
    std::env::set_var("MOTO_ENDPOINT", &endpoint);
    let config = tests::moto_config().await;
    match tests::stack::provision_stack(&config, &endpoint, &stack).await {
        Ok(env) => {
            for (name, value) in env {
                println!("{name}={value}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("local-stack: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
