#!/usr/bin/env bash
# make images: one OCI image per service and one for smartctl, built FROM scratch with buildah and
# written as OCI archives (OUT_DIR/<name>.tar, default BUILD_DIR/images). No container engine, no
# daemon, no registry: buildah's vfs storage lives in a private directory under the build dir and
# is removed afterwards, so nothing global is touched and it works offline.
#
# Each image holds the stripped binary (/usr/bin/<binary>), every shared library it needs at the
# path ldd resolves it to (the dynamic loader included), the CA certificates, an /etc/passwd and
# /etc/group entry for the numeric user and no shell. Files are owned by root:root and group- and
# world-readable, the data directory /var/lib/smartby is group 0 with g=u, and the image runs as
# USER 10001 (gid 0), so OpenShift's arbitrary UID (always in group 0) can read and write what it
# must. The list of images is images/images.conf; the common labels are images/labels.conf; what
# some images hold besides (data files, default environment) is images/extras.conf.
#
# Usage: scripts/build-images.sh BUILD_DIR [OUT_DIR]
# Environment: SOURCE_DATE_EPOCH (image and file times; the same value and binaries give the
#                same image digests; default now),
#              SMARTBY_REVISION (the revision label; default read from .git, else "unknown"),
#              SMARTBY_IMAGES (names of the images to build, space-separated; default all).
set -euo pipefail
umask 022  # the staged files' modes become the image's

die() { echo "build-images: error: $*" >&2; exit 1; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 BUILD_DIR [OUT_DIR]"
REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)
[[ -d $1 ]] || die "build directory '$1' does not exist (run 'make build' first)"
BUILD_DIR=$(cd "$1" && pwd)
mkdir -p "${2:-$BUILD_DIR/images}"
OUT_DIR=$(cd "${2:-$BUILD_DIR/images}" && pwd)

IMAGE_LIST=$REPO_DIR/images/images.conf
COMMON_LABELS=$REPO_DIR/images/labels.conf
IMAGE_EXTRAS=$REPO_DIR/images/extras.conf
IMAGE_UID=10001
DATA_DIR=/var/lib/smartby
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

for tool in buildah ldd strip; do
  command -v "$tool" >/dev/null ||
    die "'$tool' not found; install Debian's buildah, libc-bin and binutils" \
      "(scripts/install-deps.sh does)"
done
[[ $EUID -eq 0 ]] || die "run as root: the image's files get owners and buildah's storage is \
mounted (without root: buildah unshare $0 $*)"
[[ -s $CA_BUNDLE ]] || die "$CA_BUNDLE is missing or empty; install Debian's ca-certificates"

VERSION=$(sed -n 's/^project(smartby VERSION \([0-9][0-9.]*\).*/\1/p' "$REPO_DIR/CMakeLists.txt")
[[ -n $VERSION ]] || die "$REPO_DIR/CMakeLists.txt: no 'project(smartby VERSION x.y.z' line"

# The commit checked out, read from .git itself so that a tree without git (a source tarball, a
# CI cache) still builds; "unknown" when there is no repository.
git_revision() {
  local git_dir=$REPO_DIR/.git head ref
  [[ -f $git_dir/HEAD ]] || { echo unknown; return; }
  head=$(<"$git_dir/HEAD")
  if [[ $head != ref:* ]]; then echo "$head"; return; fi
  ref=${head#ref: }
  if [[ -f $git_dir/$ref ]]; then
    cat "$git_dir/$ref"
  elif [[ -f $git_dir/packed-refs ]] && grep -q " $ref\$" "$git_dir/packed-refs"; then
    grep " $ref\$" "$git_dir/packed-refs" | cut -d' ' -f1
  else
    echo unknown  # a branch without commits yet
  fi
}
REVISION=${SMARTBY_REVISION:-$(git_revision)}
CREATED_EPOCH=${SOURCE_DATE_EPOCH:-$(date +%s)}
CREATED=$(date -u -d "@$CREATED_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

WORK_DIR=$(mktemp -d "$BUILD_DIR/.build-images.XXXXXX")
current_image=
# A failing buildah (no vfs support, a full disk) prints its own message; this adds which image.
on_exit() {
  local status=$?
  rm -rf "$WORK_DIR"
  if [[ $status -ne 0 && -n $current_image ]]; then
    echo "build-images: error: building smartby/$current_image failed (exit status $status);" \
      "the reason is above" >&2
  fi
}
trap on_exit EXIT
mkdir -p "$WORK_DIR/tmp"
export TMPDIR=$WORK_DIR/tmp
# Private storage: vfs needs no kernel overlay support; the host's storage.conf is not read.
cat >"$WORK_DIR/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$WORK_DIR/storage"
runroot = "$WORK_DIR/run"
CONF
export CONTAINERS_STORAGE_CONF=$WORK_DIR/storage.conf
buildah_private() {
  buildah --root "$WORK_DIR/storage" --runroot "$WORK_DIR/run" --storage-driver vfs "$@"
}

# Prints every shared library BINARY loads, as the absolute paths the dynamic loader resolves,
# the loader itself included; fails naming any library that cannot be found.
shared_libraries() {
  local binary=$1 listing
  listing=$(ldd "$binary" 2>&1) || die "ldd $binary failed: $listing"
  if grep -q 'not found' <<<"$listing"; then
    die "$binary needs libraries that are not installed:" \
      "$(grep 'not found' <<<"$listing" | tr -s ' \t\n' ' ')"
  fi
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$listing" | sort -u
}

# Prints the lines of images/extras.conf for image NAME of KIND (copy or env), without the two.
image_extras() {
  local name=$1 kind=$2
  awk -v name="$name" -v kind="$kind" \
    '$1 == name && $2 == kind { $1 = ""; $2 = ""; sub(/^ +/, ""); print }' "$IMAGE_EXTRAS"
}

# Copies the directories images/extras.conf names for image NAME into ROOTFS (readable by all).
stage_extra_files() {
  local rootfs=$1 name=$2 source destination
  while read -r source destination; do
    [[ -d $REPO_DIR/$source && -n $destination && $destination == /* ]] ||
      die "$IMAGE_EXTRAS: '$name copy $source $destination': expected a directory of the" \
        "repository and an absolute path in the image"
    install -d -m 0755 "$rootfs$destination"
    cp -R "$REPO_DIR/$source/." "$rootfs$destination/"
    find "$rootfs$destination" -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
  done < <(image_extras "$name" copy)
}

# Fills ROOTFS (an empty directory) with everything image NAME of BINARY holds.
stage_rootfs() {
  local rootfs=$1 binary=$2 name=$3 lib libraries
  local binary_name=${binary##*/}
  libraries=$(shared_libraries "$binary")  # on its own line, so that its failure stops the build
  install -d -m 0755 "$rootfs"/{usr/bin,etc/ssl/certs,var/lib}
  install -m 0755 "$binary" "$rootfs/usr/bin/$binary_name"
  strip --strip-unneeded "$rootfs/usr/bin/$binary_name"
  for lib in $libraries; do
    install -d -m 0755 "$rootfs${lib%/*}"
    cp -L "$lib" "$rootfs$lib"  # the file itself, not a symlink into /usr/lib that isn't there
    chmod u+w,go+r,go-w "$rootfs$lib"
  done
  install -m 0644 "$CA_BUNDLE" "$rootfs$CA_BUNDLE"
  # Named user and group for tools that print them; the shell field points at nothing on purpose.
  printf 'smartby:x:%s:0:Smartby:%s:/sbin/nologin\n' "$IMAGE_UID" "$DATA_DIR" >"$rootfs/etc/passwd"
  printf 'root:x:0:\n' >"$rootfs/etc/group"
  # glibc's built-in default asks DNS before /etc/hosts (which Kubernetes mounts); files first.
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf"
  install -d -m 0770 "$rootfs$DATA_DIR"  # g=u: writable by any uid in group 0
  install -d -m 1777 "$rootfs/tmp"
  stage_extra_files "$rootfs" "$name"
  chown -R 0:0 "$rootfs"
  chown "$IMAGE_UID:0" "$rootfs$DATA_DIR"
}

# build_image NAME BINARY GRPC_PORT METRICS_PORT DESCRIPTION
build_image() {
  local name=$1 binary=$2 grpc_port=$3 metrics_port=$4 description=$5
  local binary_name=${binary##*/} rootfs=$WORK_DIR/rootfs-$name container mount_point
  local -a config_args=(
    --user "$IMAGE_UID" --workingdir "$DATA_DIR" --created-by "scripts/build-images.sh"
    --entrypoint "[\"/usr/bin/$binary_name\"]"
    --env "HOME=$DATA_DIR"
    --label "org.opencontainers.image.title=smartby/$name"
    --label "org.opencontainers.image.description=$description"
    --label "org.opencontainers.image.version=$VERSION"
    --label "org.opencontainers.image.revision=$REVISION"
    --label "org.opencontainers.image.created=$CREATED"
  )
  local line
  while IFS= read -r line; do
    [[ -z $line || $line == \#* ]] || config_args+=(--label "$line")
  done <"$COMMON_LABELS"
  # Services default to listening on every interface at their own ports (through the flags'
  # environment twins, so a chart's args or env still override them) and keep data in DATA_DIR.
  # Plaintext off loopback stays refused unless TLS or --allow_insecure_listen is configured.
  if [[ $grpc_port != - ]]; then
    config_args+=(--port "$grpc_port/tcp" --env "SMARTBY_LISTEN=0.0.0.0:$grpc_port"
                  --env "SMARTBY_DATA_DIR=$DATA_DIR")
  fi
  if [[ $metrics_port != - ]]; then
    config_args+=(--port "$metrics_port/tcp" --env "SMARTBY_METRICS_LISTEN=0.0.0.0:$metrics_port")
  fi
  local setting
  while read -r setting; do
    [[ $setting == [A-Z]*=* ]] ||
      die "$IMAGE_EXTRAS: '$name env $setting': expected NAME=VALUE"
    config_args+=(--env "$setting")
  done < <(image_extras "$name" env)

  mkdir "$rootfs"
  stage_rootfs "$rootfs" "$binary" "$name"
  container=$(buildah_private from --quiet scratch)
  mount_point=$(buildah_private mount "$container")
  cp -a "$rootfs/." "$mount_point/"
  buildah_private umount "$container" >/dev/null
  buildah_private config "${config_args[@]}" "$container"
  rm -f "$OUT_DIR/$name.tar"
  buildah_private commit --quiet --rm --disable-compression=false --timestamp "$CREATED_EPOCH" \
    "$container" "oci-archive:$OUT_DIR/$name.tar:smartby/$name:$VERSION" >/dev/null
  rm -rf "$rootfs"
}

for requested in ${SMARTBY_IMAGES:-}; do
  grep -q "^$requested " "$IMAGE_LIST" ||
    die "SMARTBY_IMAGES names '$requested', which is not an image in $IMAGE_LIST"
done

started=$SECONDS
built=0
while read -r -u 3 name binary when grpc_port metrics_port description; do
  [[ -z $name || $name == \#* ]] && continue
  [[ -z ${SMARTBY_IMAGES:-} || " $SMARTBY_IMAGES " == *" $name "* ]] || continue
  if [[ ! -x $BUILD_DIR/$binary ]]; then
    if [[ $when == if-built ]]; then
      echo "skipped smartby/$name: $BUILD_DIR/$binary not built"
      continue
    fi
    die "$BUILD_DIR/$binary not found; build it first (make build)"
  fi
  image_started=$SECONDS
  current_image=$name
  build_image "$name" "$BUILD_DIR/$binary" "$grpc_port" "$metrics_port" "$description"
  printf 'built smartby/%s:%s -> %s (%s MiB, %ss)\n' "$name" "$VERSION" "$OUT_DIR/$name.tar" \
    "$(awk -v b="$(stat -c %s "$OUT_DIR/$name.tar")" 'BEGIN { printf "%.1f", b / 1048576 }')" \
    "$((SECONDS - image_started))"
  built=$((built + 1))
  current_image=
done 3<"$IMAGE_LIST"
echo "built $built images in $((SECONDS - started))s (version $VERSION, revision $REVISION)"
