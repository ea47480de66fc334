#!/usr/bin/env python3
"""Checks one image archive built by scripts/build-images.sh; exits 1 listing every problem.

The config (numeric non-root user, entrypoint, ports, labels), the files (group 0, readable, the
data directory g=u, no shell), every shared library the binary needs, then the binary run inside
the unpacked image under chroot: once with RUN_ARGS as the image's user, and with --serve the
service started as an arbitrary uid in group 0 (as OpenShift runs it) until it reports ready.
"""

import argparse
import os
import shutil
import subprocess
import sys

import image_checks


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--archive", required=True, help="the image's OCI archive (.tar)")
    parser.add_argument("--entrypoint", required=True, help="the binary's path inside the image")
    parser.add_argument("--ports", default="", help="expected exposed ports, comma-separated")
    parser.add_argument("--label", action="append", default=[],
                        help="KEY=VALUE a label must have exactly (repeatable)")
    parser.add_argument("--built-binary",
                        help="the binary as built; the image must hold a copy of this build")
    parser.add_argument("--run-args", default="--version",
                        help="arguments the binary must exit 0 with inside the image")
    parser.add_argument("--serve", action="store_true",
                        help="also start the service inside the image and wait until ready")
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="a flag the service needs to start (repeatable)")
    parser.add_argument("--env", action="append", default=[],
                        help="NAME=VALUE the image's environment must set exactly (repeatable)")
    parser.add_argument("--copy-of", action="append", default=[],
                        help="SOURCE=DESTINATION: the image holds at DESTINATION the same files as "
                             "the directory SOURCE, readable by group 0 (repeatable)")
    parser.add_argument("--work-dir", required=True, help="scratch directory (recreated)")
    args = parser.parse_args()

    if not os.path.isfile(args.archive):
        sys.exit(f"FAIL: {args.archive} does not exist; scripts/build-images.sh did not build it "
                 "(see the images_build test's output)")
    if os.geteuid() != 0:
        sys.exit("FAIL: these checks run the binary under chroot and must run as root")

    image = image_checks.OciArchive(args.archive)
    ports = [int(p) for p in args.ports.split(",") if p]
    problems = image_checks.check_config(image.config, args.entrypoint, ports)
    labels = image.config["config"].get("Labels") or {}
    for expected in args.label:
        key, _, value = expected.partition("=")
        if labels.get(key) != value:
            problems.append(f"config label {key} is {labels.get(key)!r}, expected {value!r}")
    problems += image_checks.check_files(image.layer_members())

    rootfs = os.path.join(args.work_dir, "rootfs")
    os.makedirs(args.work_dir, exist_ok=True)
    image.unpack(rootfs)
    problems += image_checks.check_rootfs(rootfs, args.entrypoint)
    if args.built_binary:
        problems += image_checks.check_same_build(rootfs, args.entrypoint, args.built_binary)
    problems += image_checks.check_env(image.config, args.env)
    for copy in args.copy_of:
        source, _, destination = copy.partition("=")
        problems += image_checks.check_copy(rootfs, source, destination)

    if not problems:  # running makes sense only once the libraries are known to be there
        user = image.config["config"]["User"]
        uid, _, gid = user.partition(":")
        run = image_checks.run_in_image(rootfs, image.config, args.run_args.split(), int(uid),
                                        int(gid or 0), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        output, _ = run.communicate(timeout=60)
        if run.returncode != 0:
            problems.append(f"{args.entrypoint} {args.run_args} inside the image as uid {uid} "
                            f"exited with {run.returncode}: {output.decode(errors='replace')}")
    if not problems and args.serve:
        arbitrary_uid = 1000680000  # an OpenShift-style uid the image has never heard of
        problems += image_checks.serve_and_stop(rootfs, image.config, arbitrary_uid,
                                                os.path.join(args.work_dir, "service.log"),
                                                args.serve_arg)

    name = os.path.basename(args.archive)
    if problems:  # the unpacked image stays for a look
        print(f"FAIL: {name}:\n  " + "\n  ".join(problems) + f"\n(unpacked image: {rootfs})")
        return 1
    libraries = sum(1 for _, _, files in os.walk(rootfs) for f in files if ".so" in f)
    shutil.rmtree(rootfs)
    print(f"ok: {name}: config, files, {libraries} shared libraries, ran {args.entrypoint} "
          f"{args.run_args}" + (", served until ready" if args.serve else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
