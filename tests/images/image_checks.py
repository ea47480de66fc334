"""Checks of a Smartby OCI image archive, as scripts/build-images.sh writes it.

Each check returns a list of problems in plain language (empty: passed), so that a test can show
every problem at once and the negative tests can assert that a fault is reported by name. Nothing
here needs a container engine: the archive is read with tarfile, the layers are unpacked into a
directory, shared libraries are resolved with readelf against that directory, and the binary is
run under chroot(2) as a non-root user, which is what a container runtime does at its core.
"""

import json
import os
import posixpath
import re
import shutil
import signal
import subprocess
import tarfile
import time
import urllib.request

REQUIRED_LABELS = [
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.created",
]
# Where glibc's loader looks when neither RUNPATH nor LD_LIBRARY_PATH says otherwise (Debian,
# multiarch; there is no /etc/ld.so.cache in the image).
LOADER_DEFAULT_DIRS = [
    "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib",
    "/usr/lib",
]
SHELL_NAMES = {"sh", "bash", "dash", "ash", "zsh", "ksh", "busybox"}
DATA_DIR = "/var/lib/smartby"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


class OciArchive:
    """An OCI image layout in a tar file (index.json -> manifest -> config and layers)."""

    def __init__(self, path):
        self.path = path
        with tarfile.open(path) as archive:
            self._blobs = {m.name: m for m in archive.getmembers()}
            index = self._json(archive, "index.json")
            manifests = index.get("manifests", [])
            if len(manifests) != 1:
                raise ValueError(f"{path}: index.json lists {len(manifests)} manifests, expected 1")
            self.manifest = self._json(archive, self._blob_name(manifests[0]["digest"]))
            self.config = self._json(archive, self._blob_name(self.manifest["config"]["digest"]))
            self.layer_names = [self._blob_name(l["digest"]) for l in self.manifest["layers"]]

    @staticmethod
    def _blob_name(digest):
        algorithm, _, value = digest.partition(":")
        return f"blobs/{algorithm}/{value}"

    def _json(self, archive, name):
        if name not in self._blobs:
            raise ValueError(f"{self.path}: {name} is missing from the archive")
        return json.load(archive.extractfile(self._blobs[name]))

    def layer_members(self):
        """Every entry (tarfile.TarInfo) of every layer, in layer order."""
        with tarfile.open(self.path) as archive:
            for name in self.layer_names:
                with tarfile.open(fileobj=archive.extractfile(name), mode="r:*") as layer:
                    yield from layer.getmembers()

    def unpack(self, rootfs):
        """Applies the layers in order into ROOTFS (a fresh directory), owners and modes kept."""
        if os.path.exists(rootfs):
            shutil.rmtree(rootfs)
        os.makedirs(rootfs)
        with tarfile.open(self.path) as archive:
            for name in self.layer_names:
                with tarfile.open(fileobj=archive.extractfile(name), mode="r:*") as layer:
                    members = []
                    for member in layer.getmembers():
                        directory, base = posixpath.split(member.name)
                        if base.startswith(".wh."):  # a later layer deleting a file
                            victim = os.path.join(rootfs, directory, base[len(".wh."):])
                            if os.path.isdir(victim) and not os.path.islink(victim):
                                shutil.rmtree(victim)
                            elif os.path.lexists(victim):
                                os.remove(victim)
                        else:
                            members.append(member)
                    layer.extractall(rootfs, members=members, numeric_owner=True)


def check_config(config, entrypoint, ports):
    """Problems with the image config: user, entrypoint, exposed ports, labels."""
    problems = []
    settings = config.get("config", {})
    user = settings.get("User", "")
    uid, _, gid = user.partition(":")
    if not uid.isdigit():
        problems.append(f"config User is {user!r}: expected a numeric user id (e.g. \"10001\"), "
                        "so that Kubernetes can verify runAsNonRoot")
    elif int(uid) == 0:
        problems.append(f"config User is {user!r}: the image must not run as root (uid 0)")
    if gid and not gid.isdigit():
        problems.append(f"config User group {gid!r} is not numeric")
    actual_entrypoint = settings.get("Entrypoint") or []
    if actual_entrypoint[:1] != [entrypoint]:
        problems.append(f"config Entrypoint is {actual_entrypoint}: expected it to start with "
                        f"the binary {entrypoint}")
    exposed = settings.get("ExposedPorts") or {}
    actual_ports = set()
    for spec in exposed:
        port, _, protocol = spec.partition("/")
        if not port.isdigit() or protocol not in ("", "tcp"):
            problems.append(f"config ExposedPorts has {spec!r}: expected PORT/tcp")
            continue
        actual_ports.add(int(port))
        if int(port) < 1024:
            problems.append(f"config ExposedPorts has {port}: ports below 1024 need privileges "
                            "a restricted pod does not have")
    if actual_ports != set(ports):
        problems.append(f"config ExposedPorts are {sorted(actual_ports)}: expected {sorted(ports)}")
    labels = settings.get("Labels") or {}
    for label in REQUIRED_LABELS:
        if not str(labels.get(label, "")).strip():
            problems.append(f"config label {label} is missing or empty")
    return problems


def check_files(members):
    """Problems with owners and modes of the layers' entries (OpenShift runs an arbitrary uid
    in group 0, so everything must be readable by group 0) and with shells in the image."""
    problems = []
    data_dir_seen = False
    for member in members:
        path = posixpath.normpath("/" + member.name)
        if posixpath.basename(path).startswith(".wh."):
            continue
        if posixpath.basename(path) in SHELL_NAMES and not member.isdir():
            problems.append(f"{path}: a shell is in the image; it must hold only the binary and "
                            "its libraries")
        if member.issym() or member.islnk():
            continue
        if member.gid != 0:
            problems.append(f"{path}: group is {member.gid}, expected 0 (OpenShift's arbitrary "
                            "uid is only guaranteed to be in group 0)")
        if not member.mode & 0o040:
            problems.append(f"{path}: mode {member.mode:04o} is not group-readable")
        if member.isdir() and not member.mode & 0o010:
            problems.append(f"{path}: directory mode {member.mode:04o} is not group-searchable")
        if member.mode & 0o6000 and member.isfile():
            problems.append(f"{path}: mode {member.mode:04o} has setuid/setgid bits")
        if path == DATA_DIR:
            data_dir_seen = True
            if (member.mode >> 3) & 0o7 != (member.mode >> 6) & 0o7 or not member.mode & 0o020:
                problems.append(f"{path}: mode {member.mode:04o}: group permissions must equal "
                                "the owner's and allow writing (g=u, g+w) so an arbitrary uid in "
                                "group 0 can write")
    if not data_dir_seen:
        problems.append(f"{DATA_DIR}: the data directory is missing from the image")
    return problems


def build_id(path):
    """The GNU build id of the ELF file PATH (kept by strip), or None."""
    match = re.search(r"Build ID: ([0-9a-f]+)", _readelf(["--notes"], path))
    return match.group(1) if match else None


def check_same_build(rootfs, entrypoint, built_binary):
    """Problems if the image's binary is not (a stripped copy of) BUILT_BINARY: a stale image."""
    in_image = _in_rootfs(rootfs, entrypoint)
    if in_image is None:
        return [f"{entrypoint}: the binary is missing from the image"]
    image_id, built_id = build_id(in_image), build_id(built_binary)
    if built_id is None or image_id != built_id:
        return [f"{entrypoint}: build id {image_id} differs from {built_binary}'s {built_id}; "
                "the image holds another build of the binary"]
    return []


def _in_rootfs(rootfs, path, depth=0):
    """PATH (absolute, inside the image) resolved against ROOTFS, following symlinks the way the
    kernel would inside a chroot; None if it does not exist there."""
    if depth > 40:
        return None
    current = "/"
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        candidate = posixpath.join(current, part)
        host = os.path.join(rootfs, candidate.lstrip("/"))
        if os.path.islink(host):
            target = os.readlink(host)
            target = target if target.startswith("/") else posixpath.join(current, target)
            rest = "/".join(parts[i + 1:])
            return _in_rootfs(rootfs, posixpath.normpath(posixpath.join(target, rest)), depth + 1)
        if not os.path.lexists(host):
            return None
        current = candidate
    return os.path.join(rootfs, current.lstrip("/"))


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _readelf(flags, path):
    result = subprocess.run(["readelf", *flags, path], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"readelf {' '.join(flags)} {path} failed: {result.stderr.strip()}")
    return result.stdout


def missing_libraries(rootfs, binary):
    """Every shared library BINARY (a path inside the image) needs, directly or through another
    library, that the image does not contain, as 'name (needed by path)' strings. The program
    interpreter (dynamic loader) counts as needed."""
    host_binary = _in_rootfs(rootfs, binary)
    if host_binary is None:
        return [f"{binary} (the binary itself)"]
    missing = []
    interpreter = re.search(r"Requesting program interpreter: (\S+?)\]",
                            _readelf(["--program-headers", "--wide"], host_binary))
    if interpreter and _in_rootfs(rootfs, interpreter.group(1)) is None:
        missing.append(f"{interpreter.group(1)} (the dynamic loader, needed by {binary})")
    seen = set()
    queue = [binary]
    while queue:
        image_path = queue.pop()
        host_path = _in_rootfs(rootfs, image_path)
        dynamic = _readelf(["--dynamic", "--wide"], host_path)
        search_dirs = []
        for paths in re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library (?:runpath|rpath): \[(.*?)\]",
                                dynamic):
            origin = posixpath.dirname(image_path)
            search_dirs += [p.replace("$ORIGIN", origin) for p in paths.split(":")]
        search_dirs += LOADER_DEFAULT_DIRS
        for needed in re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]", dynamic):
            if needed in seen:
                continue
            seen.add(needed)
            found = next((posixpath.join(d, needed) for d in search_dirs
                          if _in_rootfs(rootfs, posixpath.join(d, needed))), None)
            if found is None:
                missing.append(f"{needed} (needed by {image_path})")
            else:
                queue.append(found)
    return missing


def check_rootfs(rootfs, binary):
    """Problems with the unpacked image: libraries, CA certificates, shells."""
    problems = [f"shared library {missing} is not in the image"
                for missing in missing_libraries(rootfs, binary)]
    ca_bundle = _in_rootfs(rootfs, CA_BUNDLE)
    if ca_bundle is None or b"BEGIN CERTIFICATE" not in _read(ca_bundle):
        problems.append(f"{CA_BUNDLE}: missing or holds no certificate")
    for directory, _, files in os.walk(rootfs):
        for name in files:
            if name in SHELL_NAMES:
                problems.append(f"/{os.path.relpath(os.path.join(directory, name), rootfs)}: a "
                                "shell is in the image")
    return problems


def check_env(config, expected):
    """Problems with the image's default environment: each NAME=VALUE of EXPECTED set exactly."""
    env = dict(e.split("=", 1) for e in config.get("config", {}).get("Env") or [])
    problems = []
    for setting in expected:
        name, _, value = setting.partition("=")
        if env.get(name) != value:
            problems.append(f"config Env {name} is {env.get(name)!r}, expected {value!r}")
    return problems


def check_copy(rootfs, source, destination):
    """Problems with the copy of the directory SOURCE the image should hold at DESTINATION:
    every file there, with the same bytes, readable by everyone (OpenShift's arbitrary uid)."""
    problems = []
    if not os.path.isdir(source):
        return [f"{source} is not a directory (the source of {destination})"]
    for directory, _, files in os.walk(source):
        for name in files:
            relative = os.path.relpath(os.path.join(directory, name), source)
            in_image = os.path.join(rootfs, destination.lstrip("/"), relative)
            shown = os.path.join(destination, relative)
            if not os.path.isfile(in_image):
                problems.append(f"{shown} is missing from the image (a copy of {source})")
            elif _read(in_image) != _read(os.path.join(directory, name)):
                problems.append(f"{shown} differs from {os.path.join(source, relative)}")
            elif os.stat(in_image).st_mode & 0o004 == 0:
                problems.append(f"{shown} is not readable by every uid")
    return problems


def _enter_image(rootfs, workdir, uid, gid):
    def enter():
        os.chroot(rootfs)
        os.chdir(workdir or "/")
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return enter


def run_in_image(rootfs, config, args, uid, gid=0, **popen_args):
    """Starts the image's entrypoint with ARGS inside ROOTFS as UID:GID with the image's
    environment and working directory (what a container runtime does, minus namespaces)."""
    settings = config["config"]
    env = dict(e.split("=", 1) for e in settings.get("Env") or [])
    return subprocess.Popen(settings["Entrypoint"] + list(args), env=env,
                            preexec_fn=_enter_image(rootfs, settings.get("WorkingDir"), uid, gid),
                            **popen_args)


def serve_and_stop(rootfs, config, uid, log_path, extra_args=(), deadline_seconds=30):
    """Starts the service inside the image as an arbitrary uid in group 0 on loopback ports the
    kernel picks (with EXTRA_ARGS), waits for /readyz, then stops it with SIGTERM; returns
    problems."""
    problems = []
    args = ["--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--audit_service=",
            *extra_args]
    with open(log_path, "wb") as log:
        process = run_in_image(rootfs, config, args, uid, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + deadline_seconds
        metrics_port = None
        while metrics_port is None and time.monotonic() < deadline:
            if process.poll() is not None:
                break
            for line in _read(log_path).decode(errors="replace").splitlines():
                if line.startswith("{") and '"msg":"serving"' in line:
                    metrics_port = json.loads(line).get("metrics_port")
            time.sleep(0.05)
        ready = False
        while metrics_port and not ready and time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/readyz",
                                            timeout=2) as response:
                    ready = response.status == 200
            except OSError:
                time.sleep(0.05)
        if not ready:
            last_lines = _read(log_path).decode(errors="replace").splitlines()[-5:]
            problems.append(f"the service did not become ready as uid {uid} within "
                            f"{deadline_seconds}s (exit code {process.poll()}); last lines of "
                            f"{log_path}:\n    " + "\n    ".join(last_lines))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                problems.append("the service did not stop within 20s of SIGTERM")
    if not problems and process.returncode != 0:
        problems.append(f"the service exited with code {process.returncode} after SIGTERM, "
                        f"expected 0; log: {log_path}")
    return problems
