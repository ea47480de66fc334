#!/usr/bin/env bash
# make run: starts the platform on loopback, each service as its own process, with SQLite under
# ./var, loads the demo datasets (idempotently), prints how to use smartctl, and stops everything
# cleanly on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
VAR_DIR=${SMARTBY_VAR_DIR:-$PWD/var}
mkdir -p "$VAR_DIR/log"

# name grpc_port metrics_port — one line per service, in start order (auth first: the others get
# their keys and service accounts from it); later services are added here.
SERVICES=(
  "auth 7004 9104"
  "audit 7005 9105"
  "catalogue 7001 9101"
  "ingestion 7002 9102"
  "feed 7003 9103"
  "archive 7006 9106"
)
# The roles and clearance of each service's own account: every one writes the audit log;
# ingestion also reads every dataset's schema from the catalogue, the feed reads readings, and
# the archive reads datasets, readings and the audit trail of what it exports.
declare -A SERVICE_ROLES=(
  [ingestion]="audit-writer platform-service"
  [feed]="audit-writer platform-service"
  [archive]="audit-writer platform-service auditor"
)
declare -A SERVICE_CLEARANCE=(
  [ingestion]="strictly-protected"
  [feed]="strictly-protected"
  [archive]="strictly-protected"
)
MQTT_PORT=${SMARTBY_MQTT_PORT:-1883}

# Local credentials, created on the first run and kept under var/ (mode 0600). The demo loader is
# a break-glass style platform-admin with a password and a TOTP secret from files, the way a Helm
# deployment provides its first account from a Secret; the person at the keyboard gets their own
# "admin" account with a one-time password (printed below).
LOCAL_DIR="$VAR_DIR/local"
mkdir -p "$LOCAL_DIR" && chmod 700 "$LOCAL_DIR"
umask 077
[[ -s "$LOCAL_DIR/loader-password" ]] || head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$LOCAL_DIR/loader-password"
[[ -s "$LOCAL_DIR/loader-totp" ]] || head -c 20 /dev/urandom | base32 | tr -d '=\n' >"$LOCAL_DIR/loader-totp"
# The key that seals TOTP secrets and signing keys in auth's database (back it up with it).
[[ -s "$LOCAL_DIR/secrets-key" ]] || head -c 32 /dev/urandom | base64 >"$LOCAL_DIR/secrets-key"
umask 022
declare -A EXTRA_FLAGS=(
  [auth]="--bootstrap_admin=smartby-loader --bootstrap_admin_password_file=$LOCAL_DIR/loader-password --bootstrap_admin_totp_secret_file=$LOCAL_DIR/loader-totp --signing_key_prepublication=0s --secrets_key_file=$LOCAL_DIR/secrets-key"
  [ingestion]="--mqtt_broker=127.0.0.1:$MQTT_PORT"
  [archive]="--package_dir=$VAR_DIR/archive-packages --archive_creator_id=964965137"
)
# The archive's creator (arkivskaper) as packages name it; an env twin, as it has a space.
export SMARTBY_ARCHIVE_CREATOR_NAME=${SMARTBY_ARCHIVE_CREATOR_NAME:-Stavanger kommune}

pids=()
started=()
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

SMARTCTL="$BUILD_DIR/cli/smartctl/smartctl"

start_service() {  # name grpc_port metrics_port [flags...]
  local name=$1 grpc_port=$2 metrics_port=$3
  shift 3
  "$BUILD_DIR/services/$name/smartby-$name" --listen="127.0.0.1:$grpc_port" \
    --metrics_listen="127.0.0.1:$metrics_port" --database="sqlite://$VAR_DIR/$name.db" \
    --data_dir="$VAR_DIR" ${EXTRA_FLAGS[$name]:-} "$@" >>"$VAR_DIR/log/$name.log" 2>&1 &
  pids+=($!)
  started+=("$name")
}

# Every service we started must still be running (a port already in use, say, stops it).
check_alive() {
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "error: ${started[$i]} stopped during start-up; see $VAR_DIR/log/${started[$i]}.log" >&2
      tail -n 5 "$VAR_DIR/log/${started[$i]}.log" >&2 || true
      exit 1
    fi
  done
}

# Waits (with a deadline) until the named services answer their health checks.
wait_healthy() {
  for _ in $(seq 1 150); do
    if "$SMARTCTL" --insecure status "$@" >/dev/null 2>&1; then break; fi
    check_alive
    sleep 0.1
  done
  check_alive
  if ! "$SMARTCTL" --insecure status "$@" >/dev/null 2>&1; then
    echo "error: not every service became healthy:" >&2
    "$SMARTCTL" --insecure status "$@" >&2 || true
    echo "logs: $VAR_DIR/log/" >&2
    exit 1
  fi
}

# 0. The MQTT broker the sensors publish to (Debian's mosquitto), on loopback, persistent.
mkdir -p "$VAR_DIR/mosquitto"
cat >"$VAR_DIR/mosquitto/mosquitto.conf" <<CONF
# Written by make run. Loopback only; anonymous publishing is for the local demo alone.
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
user $(id -un)
persistence true
persistence_location $VAR_DIR/mosquitto/
autosave_interval 1
log_dest file $VAR_DIR/log/mosquitto.log
CONF
/usr/sbin/mosquitto -c "$VAR_DIR/mosquitto/mosquitto.conf" >>"$VAR_DIR/log/mosquitto.log" 2>&1 &
pids+=($!)
started+=("mosquitto")

# 1. auth, and the loader signed in with its password and TOTP code (own smartctl config).
read -r name grpc_port metrics_port <<<"${SERVICES[0]}"
start_service "$name" "$grpc_port" "$metrics_port"
wait_healthy auth
loader() { XDG_CONFIG_HOME="$LOCAL_DIR/loader-config" "$SMARTCTL" --insecure "$@"; }
loader login smartby-loader --password-stdin \
  --totp-code "$(oathtool --totp -b "$(cat "$LOCAL_DIR/loader-totp")")" \
  <"$LOCAL_DIR/loader-password" >/dev/null

# 2. Each other service's own service account (its secret in var/local, mode 0600), so that its
#    calls to other services, the audit log included, carry its own token.
service_account() {  # name clearance roles...
  local name=$1 clearance=$2
  shift 2
  local secret_file="$LOCAL_DIR/$name.secret" roles=()
  [[ -s "$secret_file" ]] && return 0
  for role in "$@"; do roles+=(--role "$role"); done
  [[ -n "$clearance" ]] && roles+=(--clearance "$clearance")
  local out
  if ! out=$(loader serviceaccount create "$name" --description "the $name account (make run)" \
               "${roles[@]}" 2>"$LOCAL_DIR/smartctl.err"); then
    # It exists from an earlier run whose secret file is gone: a new secret replaces the old.
    if ! out=$(loader serviceaccount rotate-secret "$name" 2>>"$LOCAL_DIR/smartctl.err"); then
      echo "error: cannot create the service account of $name:" >&2
      cat "$LOCAL_DIR/smartctl.err" >&2
      exit 1
    fi
  fi
  (umask 077 && sed -n 's/^client secret: //p' <<<"$out" >"$secret_file")
  rm -f "$LOCAL_DIR/smartctl.err"
}

# 3. The other services.
for entry in "${SERVICES[@]:1}"; do
  read -r name grpc_port metrics_port <<<"$entry"
  # shellcheck disable=SC2086
  service_account "$name" "${SERVICE_CLEARANCE[$name]:-}" ${SERVICE_ROLES[$name]:-audit-writer}
  start_service "$name" "$grpc_port" "$metrics_port" --service_client_id="$name" \
    --service_client_secret_file="$LOCAL_DIR/$name.secret"
done
wait_healthy

# The person's own administrator, once; its one-time password must be changed at first login.
if loader user get admin >/dev/null 2>&1; then
  admin_note="  admin (created on the first run; its one-time password was printed then)"
else
  otp=$(loader user create admin --display-name "Local administrator" --role platform-admin \
    --clearance strictly-protected 2>/dev/null | sed -n 's/^one-time password: //p')
  admin_note="  admin   one-time password: $otp   (you will be asked to choose a new one)"
fi

echo "Loading demo datasets (existing ones are left as they are)..."
loader --server 127.0.0.1:7001 dataset apply -f demo/datasets.yaml | sed 's/^/  /'

# Live data: the sensor simulator plays containers, garages, beaches and bike stations, over MQTT
# and gRPC, with its own service account (ingest-writer for exactly those datasets).
SIM_DATASETS=(badetemperatur-stavanger nedgravde-avfallsbeholdere-fyllingsgrad
  parkeringshus-ledige-plasser-stavanger bysykkel-stavanger)
sim_roles=()
for d in "${SIM_DATASETS[@]}"; do sim_roles+=("ingest-writer:$d"); done
service_account sensor-simulator open "${sim_roles[@]}"
"$BUILD_DIR/tools/sensor-simulator/smartby-sensor-simulator" --transport=both \
  --ingestion_address=127.0.0.1:7002 --auth_address=127.0.0.1:7004 --mqtt_port="$MQTT_PORT" \
  --client_id=sensor-simulator --client_secret_file="$LOCAL_DIR/sensor-simulator.secret" \
  --backfill=1h >>"$VAR_DIR/log/sensor-simulator.log" 2>&1 &
pids+=($!)
started+=("sensor-simulator")
check_alive

cat <<TXT

Smartby is running on this machine:

  service     gRPC              metrics and health (HTTP)
  catalogue   127.0.0.1:7001    http://127.0.0.1:9101/metrics  /healthz  /readyz
  ingestion   127.0.0.1:7002    http://127.0.0.1:9102/metrics
  feed        127.0.0.1:7003    http://127.0.0.1:9103/metrics
  auth        127.0.0.1:7004    http://127.0.0.1:9104/metrics  /.well-known/jwks.json
  audit       127.0.0.1:7005    http://127.0.0.1:9105/metrics

  MQTT broker (mosquitto) 127.0.0.1:$MQTT_PORT, topics smartby/readings/<dataset>/<source>
  The sensor simulator sends live readings (log: $VAR_DIR/log/sensor-simulator.log).

Sign in as the local administrator:
$admin_note

Logs (one JSON object per line): $VAR_DIR/log/
Data (SQLite): $VAR_DIR/

Try smartctl (the Smartby CLI, not smartmontools' smartctl) in another terminal:

  $SMARTCTL --insecure status
  $SMARTCTL --insecure login admin
  $SMARTCTL --insecure whoami
  $SMARTCTL --insecure dataset list
  $SMARTCTL --insecure dataset search badetemperatur
  $SMARTCTL --insecure dataset get badetemperatur-stavanger -o yaml
  $SMARTCTL --insecure catalogue export --format turtle
  $SMARTCTL --insecure readings last --dataset parkeringshus-ledige-plasser-stavanger
  $SMARTCTL --insecure readings query --dataset badetemperatur-stavanger --from -1h --every 10m --agg mean --field water_temp
  $SMARTCTL --insecure source list --dataset nedgravde-avfallsbeholdere-fyllingsgrad
  $SMARTCTL --insecure quality show badetemperatur-stavanger
  $SMARTCTL --insecure feed watch parkeringshus-ledige-plasser-stavanger   # live; Ctrl-C stops
  $SMARTCTL --insecure aggregate show badetemperatur-stavanger
  $SMARTCTL --insecure audit query --since 1h        # who did what (auditor or admin)
  $SMARTCTL --insecure audit verify                  # check the log against its signed root
  $SMARTCTL --insecure archive export --dataset badetemperatur-stavanger --wait --out /tmp/badetemperatur.tar
  $SMARTCTL --insecure archive validate /tmp/badetemperatur.tar   # Arkade's N5 checks, offline

Press Ctrl-C to stop everything.
TXT

# Returns when a service exits on its own (then everything is stopped) or on Ctrl-C.
wait -n "${pids[@]}" || true
