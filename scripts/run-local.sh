#!/usr/bin/env bash
# make run: starts the platform on loopback, each service as its own process, with SQLite under
# ./var, loads the demo datasets (idempotently), prints how to use smartctl, and stops everything
# cleanly on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
VAR_DIR=${SMARTBY_VAR_DIR:-$PWD/var}
mkdir -p "$VAR_DIR/log"

# name grpc_port metrics_port — one line per service; later services are added here.
SERVICES=(
  "catalogue 7001 9101"
)

pids=()
stop_all() {
  trap - INT TERM EXIT
  if [[ ${#pids[@]} -gt 0 ]]; then
    echo
    echo "Stopping Smartby..."
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    echo "Stopped. Data is kept in $VAR_DIR (delete it to start afresh)."
  fi
}
trap "stop_all; exit 0" INT TERM
trap stop_all EXIT

for entry in "${SERVICES[@]}"; do
  read -r name grpc_port metrics_port <<<"$entry"
  binary="$BUILD_DIR/services/$name/smartby-$name"
  "$binary" --listen="127.0.0.1:$grpc_port" --metrics_listen="127.0.0.1:$metrics_port" \
    --database="sqlite://$VAR_DIR/$name.db" >>"$VAR_DIR/log/$name.log" 2>&1 &
  pids+=($!)
done

SMARTCTL="$BUILD_DIR/cli/smartctl/smartctl"
# Wait for every service to answer its health check (with a deadline), then load demo data.
for entry in "${SERVICES[@]}"; do
  read -r name grpc_port metrics_port <<<"$entry"
  for _ in $(seq 1 100); do
    if "$SMARTCTL" --insecure --server "127.0.0.1:$grpc_port" status >/dev/null 2>&1; then
      continue 2
    fi
    if ! kill -0 "${pids[@]}" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "error: $name did not become healthy; see $VAR_DIR/log/$name.log" >&2
  tail -n 20 "$VAR_DIR/log/$name.log" >&2 || true
  exit 1
done

echo "Loading demo datasets (existing ones are left as they are)..."
"$SMARTCTL" --insecure --server 127.0.0.1:7001 dataset apply -f demo/datasets.yaml | sed 's/^/  /'

cat <<TXT

Smartby is running on this machine:

  service     gRPC              metrics and health (HTTP)
  catalogue   127.0.0.1:7001    http://127.0.0.1:9101/metrics  /healthz  /readyz

Logs (one JSON object per line): $VAR_DIR/log/
Data (SQLite): $VAR_DIR/

Try smartctl (the Smartby CLI, not smartmontools' smartctl) in another terminal:

  $SMARTCTL --insecure status
  $SMARTCTL --insecure dataset list
  $SMARTCTL --insecure dataset search badetemperatur
  $SMARTCTL --insecure dataset get badetemperatur-stavanger -o yaml
  $SMARTCTL --insecure catalogue export --format turtle

Press Ctrl-C to stop everything.
TXT

# Returns when a service exits on its own (then everything is stopped) or on Ctrl-C.
wait -n "${pids[@]}" || true
