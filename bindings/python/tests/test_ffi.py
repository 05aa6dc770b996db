"""The ctypes layer against include/pidkit.h: every function declared, every
flag equal, every struct laid out as the C compiler lays it out."""

import ctypes
import os
import re
import shutil
import subprocess
import unittest

import pidkit
from pidkit import _ffi
from support import HEADER, TestCase

HAVE_HEADER = os.path.exists(HEADER)


def header_text():
    with open(HEADER) as f:
        return f.read()


@unittest.skipUnless(HAVE_HEADER, "not run from a checkout (no include/pidkit.h)")
class HeaderAgreement(TestCase):
    def test_every_function_has_argtypes_and_restype(self):
        names = set(re.findall(r"^[a-z][^;(]*?\b(pidkit_[a-z0-9_]+)\(", header_text(), re.M))
        self.assertGreaterEqual(len(names), 30)
        self.assertLessEqual({"pidkit_proc_open", "pidkit_proc_list", "pidkit_proc_kill", "pidkit_proc_wait"}, names)
        missing = names - set(_ffi.PROTOTYPES)
        self.assertFalse(missing, f"functions of include/pidkit.h without a declaration: {missing}")
        for name in _ffi.DECLARED:
            fn = getattr(_ffi.lib, name)
            restype, argtypes = _ffi.PROTOTYPES[name]
            self.assertIs(fn.restype, restype, name)
            self.assertEqual(list(fn.argtypes), argtypes, name)
        # Everything the header has and the loaded library exports is declared.
        for name in names:
            if hasattr(_ffi.lib, name):
                self.assertIn(name, _ffi.DECLARED)

    def test_flags_match_the_header(self):
        defs = re.findall(r"#define PIDKIT_((?:PIDFILE|DETACH|SPAWN)_[A-Z_]+) \(1 << (\d+)\)", header_text())
        self.assertGreaterEqual(len(defs), 17)
        for name, bit in defs:
            self.assertEqual(getattr(pidkit, name, None), 1 << int(bit), name)

    def test_proc_flags_match_the_header(self):
        defs = re.findall(r"#define PIDKIT_((?:PROC_MATCH|KILL)_[A-Z_]+) \(1 << (\d+)\)", header_text())
        self.assertGreaterEqual(len(defs), 6)
        for name, bit in defs:
            self.assertEqual(getattr(_ffi, name, None), 1 << int(bit), name)
            self.assertEqual(getattr(pidkit, name, None), 1 << int(bit), f"pidkit.{name}")

    def test_version_matches_the_header(self):
        v = dict(re.findall(r"#define PIDKIT_VERSION_(MAJOR|MINOR|PATCH) (\d+)", header_text()))
        self.assertEqual(pidkit.version(), f"{v['MAJOR']}.{v['MINOR']}.{v['PATCH']}")

    @unittest.skipUnless(shutil.which(os.environ.get("CC", "cc")), "no C compiler")
    def test_struct_layouts_match_the_c_compiler(self):
        structs = {
            "pidkit_pidfile_opts": _ffi.PidfileOpts,
            "pidkit_detach_opts": _ffi.DetachOpts,
            "pidkit_spawn_opts": _ffi.SpawnOpts,
            "pidkit_proc_info": _ffi.ProcInfo,
            "pidkit_proc_filter": _ffi.ProcFilter,
            "pidkit_kill_opts": _ffi.KillOpts,
            "pidkit_kill_result": _ffi.KillResult,
        }
        lines = []
        for cname, cls in structs.items():
            lines.append(f'printf("{cname} %zu\\n", sizeof({cname}));')
            for field, _ in cls._fields_:
                lines.append(f'printf("{cname}.{field} %zu\\n", offsetof({cname}, {field}));')
        src = self.path("layout.c")
        with open(src, "w") as f:
            f.write("#include <stddef.h>\n#include <stdio.h>\n#include <pidkit.h>\nint main(void) {\n"
                    + "\n".join(lines) + "\nreturn 0;\n}\n")
        exe = self.path("layout")
        subprocess.run([os.environ.get("CC", "cc"), "-I", os.path.dirname(HEADER), "-o", exe, src], check=True)
        got = dict(line.split() for line in subprocess.run([exe], capture_output=True, text=True,
                                                            check=True).stdout.splitlines())
        for cname, cls in structs.items():
            self.assertEqual(int(got[cname]), ctypes.sizeof(cls), f"sizeof {cname}")
            for field, _ in cls._fields_:
                self.assertEqual(int(got[f"{cname}.{field}"]), getattr(cls, field).offset, f"{cname}.{field}")


class Loading(TestCase):
    def test_library_path_is_reported(self):
        self.assertTrue(pidkit.library_path.endswith("libpidkit.so.0"), pidkit.library_path)

    def test_pidkit_library_env_is_honoured_and_a_bad_one_is_an_import_error(self):
        r = self.run_script(self.script("load.py", """
            import os, sys
            os.environ["PIDKIT_LIBRARY"] = "/nonexistent/libpidkit.so.0"
            try:
                import pidkit
            except ImportError as e:
                print("ImportError", e)
        """))
        self.assertIn("ImportError pidkit: cannot load PIDKIT_LIBRARY=/nonexistent/libpidkit.so.0", r.stdout)
