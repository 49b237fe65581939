#!/usr/bin/env bash
# Installs the Python-based dev tools into two venvs at the repo root:
#   .venv-moto  moto_server (+ boto3) — local AWS for integration tests
#   .venv-sam   cfn-lint + aws-sam-cli — template lint/validate/build
# They are separate because aws-sam-cli pins older boto3/click than moto wants.
# Idempotent: a venv whose tool already runs is left alone (a re-run is a fast no-op);
# a missing or broken one is (re)created.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

# ensure_venv NAME MARKER_CMD PACKAGES...
#   MARKER_CMD is run (relative to the venv's bin/) to decide whether the venv already works.
ensure_venv() {
  local name="$1" venv="$ROOT/$1" marker
  read -r -a marker <<<"$2"
  shift 2
  marker[0]="$venv/bin/${marker[0]}"

  if [[ -x "${marker[0]}" ]] && "${marker[@]}" >/dev/null 2>&1; then
    echo "$name: already installed (skipped)"
    return
  fi

  local start=$SECONDS
  "$PYTHON" -m venv --clear "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$@"
  if ! "${marker[@]}" >/dev/null 2>&1; then
    echo "$name: installed, but '${marker[*]}' still fails" >&2
    exit 1
  fi
  echo "$name: installed $* in $((SECONDS - start))s"
}

ensure_venv .venv-moto "moto_server --help" 'moto[server]' boto3
ensure_venv .venv-sam "cfn-lint --version" cfn-lint aws-sam-cli

# The headless browser of the Integrations page's tests (apt; skipped when present).
bash "$ROOT/scripts/install-browser.sh"
