#!/usr/bin/env bash
# Installs the headless browser the Integrations page's browser tests drive: Debian's
# `chromium` and `chromium-driver` (chromedriver). Idempotent: when both already run, nothing
# is done. Uses `sudo` only when not root and sudo is there; otherwise says what to run.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
  && chromedriver --version >/dev/null 2>&1; then
  echo "browser: already installed (skipped)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser: install chromium and its chromedriver with your package manager (no apt-get here)" >&2
  exit 1
fi

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "browser: run as root: apt-get install chromium chromium-driver" >&2
    exit 1
  fi
fi

start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null
chromedriver --version >/dev/null
echo "browser: installed chromium and chromium-driver in $((SECONDS - start))s"
