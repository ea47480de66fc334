#!/usr/bin/env bash
# The same binaries built with the same SOURCE_DATE_EPOCH give the same image digest (so a
# release can be rebuilt and verified), and a different SOURCE_DATE_EPOCH gives another one
# (so the comparison can fail). Usage: build_is_reproducible.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
shopt -s inherit_errexit
SOURCE_DIR=$1 BUILD_DIR=$2 WORK_DIR=$3
IMAGE=archive  # the image with the most in it: binary, libraries and images/extras.conf files
rm -rf "$WORK_DIR" && mkdir -p "$WORK_DIR"

manifest_digest() {  # epoch output-dir
  SOURCE_DATE_EPOCH=$1 SMARTBY_IMAGES=$IMAGE \
    "$SOURCE_DIR/scripts/build-images.sh" "$BUILD_DIR" "$2" >/dev/null
  tar -xOf "$2/$IMAGE.tar" index.json | jq -r '.manifests[0].digest'
}
first=$(manifest_digest 1700000000 "$WORK_DIR/first")
second=$(manifest_digest 1700000000 "$WORK_DIR/second")
other=$(manifest_digest 1700000001 "$WORK_DIR/other")
rm -rf "$WORK_DIR"

if [[ $first != "$second" ]]; then
  echo "FAIL: two builds of smartby/$IMAGE with SOURCE_DATE_EPOCH=1700000000 differ:"
  echo "      $first vs $second"
  exit 1
fi
if [[ $first == "$other" ]]; then
  echo "FAIL: builds with SOURCE_DATE_EPOCH 1700000000 and 1700000001 have the same digest $first;"
  echo "      the created time does not reach the image, so the comparison above proves nothing"
  exit 1
fi
echo "ok: smartby/$IMAGE rebuilt with the same SOURCE_DATE_EPOCH has the same digest $first"
