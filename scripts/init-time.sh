#!/usr/bin/env bash
# `make init-time` (issue 17): each Lambda function's init time, exec → first runtime-API
# `next`, on a local moto stack (the table, queues and secrets `make lambda-local` provisions).
#   BIN_DIR   the function binaries (default target/release; `make init-time` builds them)
#   RUNS      runs per function (default 7; the median is the figure to compare)
# Starts moto on 127.0.0.1:$MOTO_PORT and stops it on exit. Nothing leaves the machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MOTO_PORT="${MOTO_PORT:-5051}"
MOTO="$ROOT/.venv-moto/bin/moto_server"
TARGET="${CARGO_TARGET_DIR:-target}"
BIN_DIR="${BIN_DIR:-$TARGET/release}"
RUNS="${RUNS:-7}"
ENV_FILE="$(mktemp)"

if [[ ! -x "$MOTO" ]]; then
  bash scripts/install-tools.sh
fi
"$MOTO" -H 127.0.0.1 -p "$MOTO_PORT" >/dev/null 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true; rm -f "$ENV_FILE"' EXIT
for _ in $(seq 1 100); do
  if curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/"; then break; fi
  if ! kill -0 "$MOTO_PID" 2>/dev/null; then
    echo "moto_server did not start on port $MOTO_PORT (in use? set MOTO_PORT)" >&2
    exit 1
  fi
  sleep 0.2
done

cargo run -q -p tests --bin local-stack -- "http://127.0.0.1:$MOTO_PORT" init >"$ENV_FILE"
python3 scripts/init-time.py --bin-dir "$BIN_DIR" --env-file "$ENV_FILE" --runs "$RUNS" "$@"
