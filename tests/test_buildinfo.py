"""What `--version` says (entrypoint/buildinfo.py) and the build stamp it reads
(build/freeze_modules.py writes _sidecar_killer_build): with a stamp, the Debian packages and
versions of the CPython and the C library linked; without one (`python -m entrypoint`), what the
running Python can tell. The binaries' own lines: tests/test_binary.py and tests/test_release.py."""
import importlib.util
import os
import re
import sys
import types

import pytest

from entrypoint import __version__, buildinfo
from tests.helpers.process import REPO


def freeze_modules():
    spec = importlib.util.spec_from_file_location("freeze_modules", REPO / "build" / "freeze_modules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def glibc() -> str:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        return ""


def test_without_a_stamp_it_names_the_running_python_and_its_glibc():
    line = buildinfo.version_line()
    python = "{}.{}.{}".format(*sys.implementation.version[:3])
    c_library = f", {glibc()}" if glibc() else ""
    machine = buildinfo.ARCHITECTURES.get(os.uname().machine, os.uname().machine)
    assert line == f"sidecar-killer {__version__} (commit unknown, CPython {python}{c_library}, linux/{machine})"


def test_with_the_stamp_it_names_the_debian_packages(monkeypatch):
    stamp = types.ModuleType("_sidecar_killer_build")
    stamp.COMMIT, stamp.PLATFORM = "0123456789ab", "linux/arm64"
    stamp.PYTHON_PACKAGE = ("libpython3.11-dev", "3.11.2-6+deb12u9")
    stamp.LIBC_PACKAGE = ("libc6-dev", "2.36-9+deb12u14")
    monkeypatch.setitem(sys.modules, "_sidecar_killer_build", stamp)
    monkeypatch.setattr(buildinfo, "libc", lambda: "glibc 2.36")
    python = "{}.{}.{}".format(*sys.implementation.version[:3])
    assert buildinfo.version_line() == (
        f"sidecar-killer {__version__} (commit 0123456789ab, CPython {python} from Debian's libpython3.11-dev "
        "3.11.2-6+deb12u9, glibc 2.36 from Debian's libc6-dev 2.36-9+deb12u14, linux/arm64)")
    monkeypatch.setattr(buildinfo, "libc", lambda: "")  # a C library that does not say: the package still
    assert ", libc from Debian's libc6-dev 2.36-9+deb12u14, linux/arm64)" in buildinfo.version_line()


def test_the_build_stamps_the_packages_of_this_python_and_libc(tmp_path):
    """The stamp module as the binary freezes it; a package of another version than the Python or
    the glibc building it is refused (the stamp would name something else)."""
    if not glibc().startswith("glibc "):
        pytest.skip("the build runs on glibc (Debian); this Python's C library does not say it is glibc")
    freeze = freeze_modules()
    python = "{}.{}.{}".format(*sys.version_info[:3])
    libc = glibc().split()[-1]
    name, path = freeze.build_module(str(tmp_path), "0123456789ab-dirty", "linux/amd64",
                                     f"libpython3.11-dev {python}-6+deb12u9", f"libc6-dev 1:{libc}-9+deb12u14")
    assert name == "_sidecar_killer_build"
    namespace = {}
    exec(open(path).read(), namespace)
    assert namespace["COMMIT"] == "0123456789ab-dirty" and namespace["PLATFORM"] == "linux/amd64"
    assert namespace["PYTHON_PACKAGE"] == ("libpython3.11-dev", f"{python}-6+deb12u9")
    assert namespace["LIBC_PACKAGE"] == ("libc6-dev", f"1:{libc}-9+deb12u14")
    for python_package, libc_package in [(f"libpython3.11-dev {python}0-1", f"libc6-dev {libc}-1"),
                                         (f"libpython3.11-dev {python}-1", "libc6-dev 1.0-1"),
                                         (f"libpython3.11-dev{python}-1", f"libc6-dev {libc}-1"),
                                         (f"libpython3.11-dev {python}-1 extra", f"libc6-dev {libc}-1")]:
        with pytest.raises(SystemExit, match="bad stamp"):
            freeze.build_module(str(tmp_path), "0123456789ab", "linux/amd64", python_package, libc_package)


@pytest.mark.parametrize("debian, upstream", [("2.36-9+deb12u14", "2.36"), ("1:1.2.13.dfsg-1", "1.2.13.dfsg"),
                                              ("3.11.2-6+deb12u9", "3.11.2"), ("1.0", "1.0"),
                                              ("1:2.0-a-b", "2.0-a")])
def test_upstream_part_of_a_debian_version(debian, upstream):
    assert freeze_modules().upstream(debian) == upstream


def test_buildinfo_stays_cheap():
    """Imported only for --version, and then it imports nothing beyond what any start has."""
    source = (REPO / "entrypoint" / "buildinfo.py").read_text()
    assert set(re.findall(r"^(?:from|import) (\S+)", source, re.M)) == {"posix", "sys", "entrypoint"}
