"""The in-tree build backend: a wheel built with the standard library only,
and `pip install` of the source tree without an index."""

import base64
import hashlib
import importlib
import os
import subprocess
import sys
import unittest
import zipfile
from unittest import mock

import pidkit
from support import PKG_ROOT, REPO_ROOT, TestCase, child_env

BUILT_LIB = os.path.join(REPO_ROOT, "build", "libpidkit.so.0")


def backend():
    sys.path.insert(0, os.path.join(PKG_ROOT, "_backend"))
    try:
        return importlib.import_module("pidkit_backend")
    finally:
        sys.path.pop(0)


def have_pip():
    return subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0


class Wheel(TestCase):
    def test_pure_wheel_holds_the_package_and_a_valid_record(self):
        with mock.patch.dict(os.environ, {"PIDKIT_BUNDLE": "0"}):
            name = backend().build_wheel(self.tmp)
        self.assertEqual(name, f"pidkit-{pidkit.__version__}-py3-none-any.whl")
        with zipfile.ZipFile(self.path(name)) as z:
            names = set(z.namelist())
            self.assertLessEqual({"pidkit/__init__.py", "pidkit/_ffi.py", "pidkit/pid/__init__.py",
                                  "pidkit/pid/decorator.py"}, names)
            dist = f"pidkit-{pidkit.__version__}.dist-info"
            meta = z.read(f"{dist}/METADATA").decode()
            self.assertIn(f"Version: {pidkit.__version__}\n", meta)
            self.assertIn("Name: pidkit\n", meta)
            for line in z.read(f"{dist}/RECORD").decode().splitlines():
                path, digest, size = line.split(",")
                if path.endswith("RECORD"):
                    continue
                data = z.read(path)
                want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                self.assertEqual((digest, int(size)), (f"sha256={want}", len(data)), path)
            self.assertIn("pidkit/py.typed", names)   # PEP 561: the package is typed
            self.assertFalse(any(n.startswith("tests/") for n in names))
            self.assertNotIn("pidkit/libpidkit.so.0", names)

    @unittest.skipUnless(os.path.exists(BUILT_LIB), "no build/libpidkit.so.0 in this checkout")
    def test_wheel_built_in_a_checkout_ships_the_built_library(self):
        with mock.patch.dict(os.environ, {"PIDKIT_BUNDLE": "1"}):
            name = backend().build_wheel(self.tmp)
        self.assertRegex(name, r"^pidkit-[0-9.]+-py3-none-linux_[a-z0-9_]+\.whl$")
        with zipfile.ZipFile(self.path(name)) as z, open(BUILT_LIB, "rb") as f:
            self.assertEqual(z.read("pidkit/libpidkit.so.0"), f.read())
            self.assertIn("Root-Is-Purelib: false", z.read(
                f"pidkit-{pidkit.__version__}.dist-info/WHEEL").decode())

    def test_no_build_requirements(self):
        b = backend()
        self.assertEqual(b.get_requires_for_build_wheel(), [])
        self.assertEqual(b.get_requires_for_build_editable(), [])

    @unittest.skipUnless(have_pip() and os.path.exists(BUILT_LIB), "pip or build/libpidkit.so.0 missing")
    def test_pip_installs_the_tree_without_an_index_and_it_works_without_pidkit_library(self):
        target = self.path("site")
        env = dict(os.environ, PIDKIT_BUNDLE="1")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                            "--disable-pip-version-check", "--no-cache-dir", "--target", target, PKG_ROOT],
                           capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        env = child_env(PYTHONPATH=target)
        env.pop("PIDKIT_LIBRARY", None)
        r = subprocess.run([sys.executable, "-c", "import os, pidkit, pidkit.pid.decorator; print(pidkit.library_path); "
                            "print(pidkit.getsid() == os.getsid(0))"],
                           capture_output=True, text=True, env=env, cwd=self.tmp)
        self.assertEqual(r.stdout.splitlines(), [os.path.join(target, "pidkit", "libpidkit.so.0"), "True"],
                         r.stderr)
