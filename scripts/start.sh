#!/usr/bin/env bash
# The start command of the README: installs the npm dependencies when missing, builds the app (demo/) when
# its sources are newer than the last build, and serves it on 127.0.0.1 (WebGPU needs a secure context:
# localhost counts). PORT overrides 4173. SKIP_INSTALL=1 skips the dependency check (offline machines).
#
# The last step execs node on Vite's own entry file, so the PID that started this script IS the server:
# `kill <pid>` stops it and leaves nothing behind (npx would have stayed in between, and killing it
# left the server running).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SKIP_INSTALL:-0}" != 1 ] && { [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  npm ci --no-audit --no-fund
fi
vite=node_modules/vite/bin/vite.js
if [ ! -f demo-dist/index.html ] || [ -n "$(find demo src shaders vite.config.ts package-lock.json -newer demo-dist/index.html -print -quit)" ]; then
  node "$vite" build --mode demo --logLevel warn
fi
port="${PORT:-4173}"
echo "webgpu-quant app: http://127.0.0.1:${port}/ (open in Chrome or Edge for WebGPU; other browsers use the CPU path)"
exec node "$vite" preview --mode demo --host 127.0.0.1 --port "$port" --strictPort
