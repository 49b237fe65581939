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
TARGET="${CARGO_TARGET_DIR:-target}"
BIN_DIR="${BIN_DIR:-$TARGET/release}"
RUNS="${RUNS:-7}"
ENV_FILE="$(mktemp)"

# shellcheck source=scripts/moto-stack.sh
source "$ROOT/scripts/moto-stack.sh"
trap 'moto_stop; rm -f "$ENV_FILE"' EXIT
moto_start

moto_provision init >"$ENV_FILE"
python3 scripts/init-time.py --bin-dir "$BIN_DIR" --env-file "$ENV_FILE" --runs "$RUNS" "$@"
