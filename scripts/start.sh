#!/usr/bin/env bash
# The start command of the README: installs the npm dependencies when missing, builds the app (demo/)
# and serves it on 127.0.0.1 (WebGPU needs a secure context: localhost counts). PORT overrides 4173.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npx vite build --mode demo --logLevel warn
echo "webgpu-quant app: http://127.0.0.1:${PORT:-4173}/ (open in Chrome or Edge for WebGPU; other browsers use the CPU path)"
exec npx vite preview --mode demo --host 127.0.0.1 --port "${PORT:-4173}" --strictPort
