#!/usr/bin/env bash
# Test fixture: copies helm/ to OUT_DIR/helm with every symlink resolved (files/ links into
# observability/ and to helm/flows.yaml; a dangling link fails here, as it would fail
# `helm package`), then builds each chart's dependencies there with the real helm, as a user
# does before installing. The source tree is left untouched.
# Usage: prepare-charts.sh SOURCE_DIR OUT_DIR
set -euo pipefail
SOURCE_DIR=$1
OUT_DIR=$2
HELM="$SOURCE_DIR/.tools/bin/helm"
if [[ ! -x "$HELM" ]]; then
  echo "prepare-charts: $HELM is missing: run scripts/install-tools.sh (make deps)" >&2
  exit 1
fi
export HELM_CACHE_HOME="$OUT_DIR/.helm/cache" HELM_CONFIG_HOME="$OUT_DIR/.helm/config" \
  HELM_DATA_HOME="$OUT_DIR/.helm/data"

rm -rf "$OUT_DIR/helm"
mkdir -p "$OUT_DIR"
# Dangling links are named one by one, so the message says which file is missing.
dangling=$(find "$SOURCE_DIR/helm" -xtype l)
if [[ -n "$dangling" ]]; then
  echo "prepare-charts: these chart files point at nothing:" >&2
  for link in $dangling; do echo "  $link -> $(readlink "$link")" >&2; done
  exit 1
fi
cp -rL "$SOURCE_DIR/helm" "$OUT_DIR/helm"
rm -rf "$OUT_DIR"/helm/*/charts

# Service charts first (they depend on smartby-lib), then the umbrella (it packs them).
for chart in catalogue ingestion feed auth audit archive smartby; do
  if ! out=$("$HELM" dependency build "$OUT_DIR/helm/$chart" 2>&1); then
    echo "prepare-charts: helm dependency build helm/$chart failed:" >&2
    echo "$out" >&2
    exit 1
  fi
done
