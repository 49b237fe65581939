# Sourced (not run) by scripts/lambda-local.sh and scripts/init-time.sh: the local moto stack
# both stand on. Expects ROOT (the repository) and MOTO_PORT to be set.
#   moto_start            starts moto_server (from .venv-moto; installed by scripts/install-tools.sh
#                         when missing) on 127.0.0.1:$MOTO_PORT and waits until it answers (exits 1
#                         if it dies first, e.g. the port is in use);
#   moto_stop             stops it: the caller's EXIT trap calls it, set before moto_start;
#   moto_provision MODE   provisions the table, queues and secrets of infra/template.yaml there
#                         (`cargo run -p tests --bin local-stack`) and prints the functions'
#                         environment for MODE (`local` or `init`).
# Nothing leaves the machine.

MOTO="$ROOT/.venv-moto/bin/moto_server"
MOTO_PID=""

moto_stop() {
  if [[ -n "$MOTO_PID" ]]; then
    kill "$MOTO_PID" 2>/dev/null || true
  fi
}

moto_start() {
  if [[ ! -x "$MOTO" ]]; then
    bash "$ROOT/scripts/install-tools.sh"
  fi
  "$MOTO" -H 127.0.0.1 -p "$MOTO_PORT" >/dev/null 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/"; then return 0; fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto_server did not start on port $MOTO_PORT (in use? set MOTO_PORT)" >&2
      exit 1
    fi
    sleep 0.2
  done
}

moto_provision() {
  cargo run -q -p tests --bin local-stack -- "http://127.0.0.1:$MOTO_PORT" "$1"
}
