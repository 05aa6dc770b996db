"""A PEP 517 build backend for the pidkit binding, standard library only.

The package is pure Python (ctypes), so a wheel is a zip of pidkit/*.py and
a .dist-info directory. Doing it here instead of through setuptools means
`pip install bindings/python` needs nothing from an index: the build
environment pip creates stays empty, offline or not.

Metadata comes from pyproject.toml's [project] table (the simple
`key = "value"` lines written there).

The wheel ships a libpidkit.so.0 next to the package when there is one to
ship: one copied into pidkit/, else the checkout's build/libpidkit.so.0
(`make lib`), so that `make lib && pip install bindings/python` gives a
package that works without PIDKIT_LIBRARY or `make install`. Such a wheel is
tagged for this platform instead of py3-none-any. PIDKIT_BUNDLE=0 in the
environment builds the pure wheel, which finds the library at run time.
"""

import base64
import glob
import hashlib
import io
import os
import platform
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SONAME = "libpidkit.so.0"
# Fixed timestamps: the same sources give the same archive bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    section = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S).group(1)
    meta = dict(re.findall(r'^([A-Za-z-]+)\s*=\s*"([^"]*)"\s*$', section, re.M))
    lic = re.search(r'^license\s*=\s*\{\s*text\s*=\s*"([^"]*)"\s*\}', section, re.M)
    if lic:
        meta["license"] = lic.group(1)
    return meta


def _metadata():
    p = _project()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {p['name']}",
        f"Version: {p['version']}",
        f"Summary: {p.get('description', '')}",
    ]
    if "requires-python" in p:
        lines.append(f"Requires-Python: {p['requires-python']}")
    if "license" in p:
        lines.append(f"License: {p['license']}")
    body = ""
    readme = p.get("readme")
    if readme and os.path.exists(os.path.join(ROOT, readme)):
        lines.append("Description-Content-Type: text/markdown")
        with open(os.path.join(ROOT, readme), encoding="utf-8") as f:
            body = "\n" + f.read()
    return "\n".join(lines) + "\n" + body


def _names():
    p = _project()
    return p["name"], p["version"]


def _dist_info():
    name, version = _names()
    return f"{name}-{version}.dist-info"


def _sources(top):
    """The .py files under ROOT/top, subpackages included (pidkit/pid/),
    sorted; no __pycache__."""
    found = glob.glob(os.path.join(ROOT, top, "**", "*.py"), recursive=True)
    return sorted(p for p in found if "__pycache__" not in p.split(os.sep))


def _package_files():
    """[(arcname, path)] and whether a library is among them."""
    files = [(os.path.relpath(p, ROOT).replace(os.sep, "/"), p) for p in _sources("pidkit")]
    if os.environ.get("PIDKIT_BUNDLE", "1") == "0":
        return files, False
    candidates = [os.path.join(ROOT, "pidkit", SONAME)]
    if os.path.basename(os.path.dirname(ROOT)) == "bindings":      # built in a checkout
        candidates.append(os.path.join(os.path.dirname(os.path.dirname(ROOT)), "build", SONAME))
    for lib in candidates:
        if os.path.exists(lib):
            return files + [("pidkit/" + SONAME, lib)], True
    return files, False


def _tag(has_lib):
    if not has_lib:
        return "py3-none-any"
    return "py3-none-linux_" + platform.machine().replace("-", "_").replace(".", "_")


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _write_wheel(wheel_directory, entries, tag):
    """entries: [(arcname, bytes, mode)] without the dist-info; returns the file name."""
    name, version = _names()
    dist_info = _dist_info()
    wheel_meta = f"Wheel-Version: 1.0\nGenerator: pidkit_backend\nRoot-Is-Purelib: {'false' if tag != 'py3-none-any' else 'true'}\nTag: {tag}\n"
    entries = list(entries) + [
        (f"{dist_info}/METADATA", _metadata().encode(), 0o644),
        (f"{dist_info}/WHEEL", wheel_meta.encode(), 0o644),
        (f"{dist_info}/top_level.txt", b"pidkit\n", 0o644),
    ]
    record = [_record_line(a, d) for a, d, _ in entries] + [f"{dist_info}/RECORD,,"]
    entries.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode(), 0o644))
    filename = f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data, mode in entries:
            info = zipfile.ZipInfo(arcname, ZIP_DATE)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return filename


def _read(path):
    with open(path, "rb") as f:
        return f.read()


# ---- PEP 517 / PEP 660 hooks

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    dist_info = _dist_info()
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


# Non-Python files of the package: the PEP 561 marker (the package is typed).
_DATA_FILES = [("pidkit/py.typed", os.path.join(ROOT, "pidkit", "py.typed"))]


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files, has_lib = _package_files()
    files += _DATA_FILES
    entries = [(arcname, _read(path), 0o755 if arcname.endswith(SONAME) else 0o644) for arcname, path in files]
    return _write_wheel(wheel_directory, entries, _tag(has_lib))


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # A .pth file puts this source tree on sys.path: the package then finds
    # the checkout's build/libpidkit.so.0 by itself.
    pth = (ROOT + "\n").encode()
    return _write_wheel(wheel_directory, [("__editable__.pidkit.pth", pth, 0o644)], "py3-none-any")


def build_sdist(sdist_directory, config_settings=None):
    name, version = _names()
    base = f"{name}-{version}"
    filename = f"{base}.tar.gz"
    paths = ["pyproject.toml", "README.md", "_backend/pidkit_backend.py"]
    paths += [os.path.relpath(p, ROOT) for p in _sources("pidkit")]
    paths += [os.path.relpath(p, ROOT) for p in _sources("tests")]
    paths += ["tests/run_pid_suite.sh"]
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        def add(arcname, data):
            info = tarfile.TarInfo(f"{base}/{arcname}")
            info.size, info.mode, info.mtime = len(data), 0o644, 315532800
            tar.addfile(info, io.BytesIO(data))
        for rel in paths:
            if os.path.exists(os.path.join(ROOT, rel)):
                add(rel, _read(os.path.join(ROOT, rel)))
        for arcname, path in _DATA_FILES:
            add(arcname, _read(path))
        add("PKG-INFO", _metadata().encode())
    return filename
