#!/usr/bin/env bash
# Puts the umbrella chart into helm-charts/smartby for the operator image: the same preparation
# the chart tests use (tests/deploy/prepare-charts.sh: symlinks into observability/ resolved,
# subchart dependencies built with the real helm), then only the umbrella is kept.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$ROOT/tests/deploy/prepare-charts.sh" "$ROOT" "$WORK"
rm -rf "$HERE/helm-charts"
mkdir -p "$HERE/helm-charts"
cp -r "$WORK/helm/smartby" "$HERE/helm-charts/smartby"
echo "prepared $HERE/helm-charts/smartby"
