#!/usr/bin/env python3
"""The image checks can fail: each takes a real image built by scripts/build-images.sh, breaks
one thing the way a careless build would, and asserts the check reports it by name.

Usage: checks_catch_faults.py ARCHIVE WORK_DIR [unittest options]
"""

import copy
import os
import shutil
import subprocess
import sys
import unittest

import image_checks

ARCHIVE = WORK_DIR = None


class ImageChecksCatchFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.image = image_checks.OciArchive(ARCHIVE)
        cls.entrypoint = cls.image.config["config"]["Entrypoint"][0]
        cls.ports = [int(p.split("/")[0]) for p in cls.image.config["config"]["ExposedPorts"]]
        cls.members = list(cls.image.layer_members())
        cls.pristine_rootfs = os.path.join(WORK_DIR, "pristine")
        cls.image.unpack(cls.pristine_rootfs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pristine_rootfs, ignore_errors=True)

    def broken_rootfs(self):
        """A private copy of the unpacked image for one test to damage (removed afterwards)."""
        rootfs = os.path.join(WORK_DIR, self._testMethodName)
        shutil.rmtree(rootfs, ignore_errors=True)
        shutil.copytree(self.pristine_rootfs, rootfs, symlinks=True)
        self.addCleanup(shutil.rmtree, rootfs, ignore_errors=True)
        return rootfs

    def config_with(self, **settings):
        config = copy.deepcopy(self.image.config)
        config["config"].update(settings)
        return config

    def members_with(self, name, **attributes):
        """The layer entries with the one named NAME changed (added if absent)."""
        members = [copy.copy(m) for m in self.members]
        match = [m for m in members if m.name.rstrip("/") == name]
        if not match:
            added = copy.copy(next(m for m in members if m.isfile()))
            added.name = name
            members.append(added)
            match = [added]
        for key, value in attributes.items():
            setattr(match[0], key, value)
        return members

    def assertReported(self, problems, *fragments):
        self.assertTrue(any(all(f in p for f in fragments) for p in problems),
                        f"expected a problem naming {fragments}, got {problems}")

    # The unbroken image passes, so each failure below comes from the one fault introduced.
    def test_unbroken_image_passes_every_check(self):
        self.assertEqual(
            image_checks.check_config(self.image.config, self.entrypoint, self.ports), [])
        self.assertEqual(image_checks.check_files(self.members), [])
        self.assertEqual(image_checks.check_rootfs(self.pristine_rootfs, self.entrypoint), [])

    def test_library_needed_through_another_library_missing_is_named(self):
        rootfs = self.broken_rootfs()
        os.remove(os.path.join(rootfs, "lib/x86_64-linux-gnu/libz.so.1"))  # grpc and ssl need it
        problems = image_checks.check_rootfs(rootfs, self.entrypoint)
        self.assertReported(problems, "libz.so.1", "needed by /lib/x86_64-linux-gnu/")

    def test_library_the_binary_needs_missing_is_named_and_the_binary_cannot_start(self):
        rootfs = self.broken_rootfs()
        os.remove(os.path.join(rootfs, "lib/x86_64-linux-gnu/libstdc++.so.6"))
        self.assertReported(image_checks.missing_libraries(rootfs, self.entrypoint),
                            "libstdc++.so.6", f"needed by {self.entrypoint}")
        run = image_checks.run_in_image(rootfs, self.image.config, ["--version"], 10001,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, _ = run.communicate(timeout=30)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn(b"libstdc++.so.6", output)

    def test_missing_dynamic_loader_is_named(self):
        rootfs = self.broken_rootfs()
        os.remove(os.path.join(rootfs, "lib64/ld-linux-x86-64.so.2"))
        self.assertReported(image_checks.missing_libraries(rootfs, self.entrypoint),
                            "ld-linux-x86-64.so.2", "dynamic loader")

    def test_binary_from_another_build_is_reported(self):
        other_build = os.path.join(self.pristine_rootfs, "lib/x86_64-linux-gnu/libz.so.1")
        self.assertReported(image_checks.check_same_build(self.pristine_rootfs, self.entrypoint,
                                                          other_build),
                            self.entrypoint, "build id")

    def test_shell_in_image_is_reported(self):
        rootfs = self.broken_rootfs()
        os.makedirs(os.path.join(rootfs, "bin"))
        shutil.copy(os.path.join(rootfs, self.entrypoint.lstrip("/")),
                    os.path.join(rootfs, "bin/sh"))
        self.assertReported(image_checks.check_rootfs(rootfs, self.entrypoint), "/bin/sh", "shell")
        self.assertReported(image_checks.check_files(self.members_with("bin/sh")),
                            "/bin/sh", "shell")

    def test_missing_ca_certificates_are_reported(self):
        rootfs = self.broken_rootfs()
        os.remove(os.path.join(rootfs, image_checks.CA_BUNDLE.lstrip("/")))
        self.assertReported(image_checks.check_rootfs(rootfs, self.entrypoint),
                            image_checks.CA_BUNDLE)

    def test_root_or_named_user_is_rejected(self):
        for user in ["0", "0:0", "root", "", "smartby"]:
            with self.subTest(user=user):
                problems = image_checks.check_config(self.config_with(User=user), self.entrypoint,
                                                     self.ports)
                self.assertReported(problems, "User")

    def test_port_below_1024_is_rejected(self):
        exposed = dict(self.image.config["config"]["ExposedPorts"], **{"80/tcp": {}})
        problems = image_checks.check_config(self.config_with(ExposedPorts=exposed),
                                             self.entrypoint, self.ports + [80])
        self.assertReported(problems, "80", "below 1024")

    def test_unexpected_or_missing_port_is_rejected(self):
        problems = image_checks.check_config(self.config_with(ExposedPorts={}), self.entrypoint,
                                             self.ports)
        self.assertReported(problems, "ExposedPorts", str(self.ports[0]))

    def test_entrypoint_other_than_the_binary_is_rejected(self):
        config = self.config_with(Entrypoint=["/bin/sh", "-c", self.entrypoint])
        self.assertReported(image_checks.check_config(config, self.entrypoint, self.ports),
                            "Entrypoint", self.entrypoint)

    def test_missing_or_empty_label_is_named(self):
        for label in image_checks.REQUIRED_LABELS:
            for labels in [{k: v for k, v in self.image.config["config"]["Labels"].items()
                            if k != label},
                           dict(self.image.config["config"]["Labels"], **{label: " "})]:
                with self.subTest(label=label):
                    problems = image_checks.check_config(self.config_with(Labels=labels),
                                                         self.entrypoint, self.ports)
                    self.assertReported(problems, label)

    def test_file_outside_group_0_or_unreadable_by_group_is_reported(self):
        binary = self.entrypoint.lstrip("/")
        self.assertReported(image_checks.check_files(self.members_with(binary, gid=1000)),
                            self.entrypoint, "group is 1000")
        self.assertReported(image_checks.check_files(self.members_with(binary, mode=0o700)),
                            self.entrypoint, "not group-readable")

    def test_data_dir_without_group_write_is_reported(self):
        for mode in [0o750, 0o550]:
            with self.subTest(mode=oct(mode)):
                members = self.members_with("var/lib/smartby", mode=mode)
                self.assertReported(image_checks.check_files(members), image_checks.DATA_DIR,
                                    "g=u")

    def test_env_setting_missing_or_different_is_named(self):
        expected = ["SMARTBY_XSD_DIR=/usr/share/smartby/noark5/xsd"]
        self.assertReported(image_checks.check_env(self.config_with(Env=[]), expected),
                            "SMARTBY_XSD_DIR", "None")
        wrong = self.config_with(Env=["SMARTBY_XSD_DIR=/usr/share/xsd"])
        self.assertReported(image_checks.check_env(wrong, expected), "SMARTBY_XSD_DIR",
                            "/usr/share/xsd")
        right = self.config_with(Env=expected)
        self.assertEqual(image_checks.check_env(right, expected), [])

    def test_data_files_missing_changed_or_unreadable_are_named(self):
        source = os.path.join(WORK_DIR, "copy-source")
        shutil.rmtree(source, ignore_errors=True)
        os.makedirs(os.path.join(source, "sub"))
        with open(os.path.join(source, "sub", "schema.xsd"), "w") as f:
            f.write("<schema/>")
        rootfs = self.broken_rootfs()
        destination = "/usr/share/smartby/data"
        self.assertReported(image_checks.check_copy(rootfs, source, destination),
                            "/usr/share/smartby/data/sub/schema.xsd", "missing")
        shutil.copytree(source, os.path.join(rootfs, destination.lstrip("/")))
        in_image = os.path.join(rootfs, destination.lstrip("/"), "sub", "schema.xsd")
        os.chmod(in_image, 0o644)
        self.assertEqual(image_checks.check_copy(rootfs, source, destination), [])
        os.chmod(in_image, 0o600)
        self.assertReported(image_checks.check_copy(rootfs, source, destination),
                            "schema.xsd", "not readable")
        with open(in_image, "w") as f:
            f.write("<schema changed/>")
        self.assertReported(image_checks.check_copy(rootfs, source, destination),
                            "schema.xsd", "differs")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ARCHIVE, WORK_DIR = sys.argv[1], sys.argv[2]
    if not os.path.isfile(ARCHIVE):
        sys.exit(f"FAIL: {ARCHIVE} does not exist; scripts/build-images.sh did not build it")
    os.makedirs(WORK_DIR, exist_ok=True)
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
