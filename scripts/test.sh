#!/usr/bin/env bash
# The test command of the README and of .ci/run, for a fresh Debian machine: installs Chromium (apt) and
# the npm dependencies when missing, typechecks, builds, and runs every test (unit tests in Node, GPU
# tests in headless Chromium). Its last line is "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "Chromium is missing: installing Debian's chromium package" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

npm run --silent typecheck
npm test
