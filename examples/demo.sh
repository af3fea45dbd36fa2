#!/usr/bin/env bash
# Builds Pingress, starts the two demo backends (blue on 127.0.0.1:9001, green on :9002) and
# runs `pingress run` on examples/demo/ with HTTP on 127.0.0.1:8080, HTTPS on 127.0.0.1:8443 and
# the admin listener on 127.0.0.1:10254. Ctrl-C stops all three. Edit examples/demo/*.yaml while it runs: changes apply
# within a second.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps
cargo build --release -p pingress -p pingress-testkit --bins

pids=()
# SIGINT: Pingora stops at once (SIGTERM would drain gracefully first). A shell started in the
# background ignores SIGINT, and so do its children: whatever is still running a moment later
# gets SIGTERM.
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM
target/release/pingress-demo-backend blue 127.0.0.1:9001 & pids+=($!)
target/release/pingress-demo-backend green 127.0.0.1:9002 & pids+=($!)

echo "try: curl -H 'Host: shop.example.com' http://127.0.0.1:8080/api/orders" >&2
target/release/pingress run --manifests examples/demo \
  --listen-http "${PINGRESS_LISTEN_HTTP:-127.0.0.1:8080}" \
  --listen-https "${PINGRESS_LISTEN_HTTPS:-127.0.0.1:8443}" \
  --listen-admin "${PINGRESS_LISTEN_ADMIN:-127.0.0.1:10254}" "$@" &
pids+=($!)
wait "${pids[-1]}"
