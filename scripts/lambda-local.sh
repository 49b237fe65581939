#!/usr/bin/env bash
# `make lambda-local`: every Lambda function of the workspace on this machine, on moto.
#   1. starts moto_server (from .venv-moto, `make tools` installs it) on 127.0.0.1:$MOTO_PORT;
#   2. provisions the table, queues and secrets of infra/template.yaml there, with the sample
#      events' fake secrets (`cargo run -p tests --bin local-stack`), writing every function's
#      environment to .lambda-local.env;
#   3. runs `cargo lambda watch --env-file .lambda-local.env` (port 9000).
# Then, in another terminal:  cargo lambda invoke webhooks --data-file events/webhooks-woocommerce-ping.json
# A function missing a variable prints one line naming it and exits at once (no hang).
# Ctrl-C stops cargo lambda watch and moto. Nothing leaves the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MOTO_PORT="${MOTO_PORT:-5050}"
ENV_FILE="$ROOT/.lambda-local.env"

if ! cargo lambda --version >/dev/null 2>&1; then
  echo "cargo lambda is not installed: pip install cargo-lambda (or cargo install --locked cargo-lambda), then run make lambda-local again" >&2
  exit 1
fi
# shellcheck source=scripts/moto-stack.sh
source "$ROOT/scripts/moto-stack.sh"
trap moto_stop EXIT
moto_start

moto_provision local >"$ENV_FILE"
echo "moto on http://127.0.0.1:$MOTO_PORT; the functions' environment is in $ENV_FILE:"
sed 's/^/  /' "$ENV_FILE"
echo "invoke with e.g.: cargo lambda invoke webhooks --data-file events/webhooks-woocommerce-ping.json"
cargo lambda watch --env-file "$ENV_FILE"
