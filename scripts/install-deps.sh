#!/usr/bin/env bash
# Installs every Debian 12 package Smartby needs to build, run and test.
# The one list of dependencies: add a package here and nowhere else.
# Idempotent and quiet when everything is already installed.
set -euo pipefail

PACKAGES=(
  # toolchain
  cmake g++ make pkg-config
  # gRPC, protobuf, Abseil, metrics (see shared/docs/build-notes.md)
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libabsl-dev
  prometheus-cpp-dev libcivetweb-dev
  # storage engines: embedded SQLite, production PostgreSQL (client library)
  libsqlite3-dev libpq-dev
  # smartctl: YAML config and -f dataset.yaml / -o yaml
  libyaml-cpp-dev
  # auth: argon2id password hashing (libsodium), HMAC and signatures (OpenSSL's libcrypto)
  # (libcurl: identity providers' JWKS over https)
  libsodium-dev libssl-dev libcurl4-openssl-dev
  # make run: TOTP codes for the local demo loader's second factor
  oathtool
  # JSON for JOSE (tokens, JWKS) and identity-provider configuration
  nlohmann-json3-dev
  # ingestion: the MQTT bridge (libmosquitto); tests start a real broker (mosquitto)
  libmosquitto-dev mosquitto
  # tests: GoogleTest, a PostgreSQL server, an RDF parser for the DCAT export, openssl for TLS certs
  libgtest-dev libgmock-dev postgresql raptor2-utils openssl
  # archive: Noark 5 packages checked against the official XSDs (libxml2; xmllint in tests)
  libxml2-dev libxml2-utils
  # deploy and observe: promtool and a real Prometheus, OCI images built with buildah, Node.js
  # for the offline Kubernetes schema checks, unzip for the helm binary, jq and python3 in scripts
  prometheus buildah ca-certificates nodejs unzip jq python3
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# Debian's nodejs comes without npm; a Node.js from elsewhere (NodeSource) brings its own.
command -v npm >/dev/null 2>&1 || missing+=(npm)
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
