"""What C and Python, and the build's files, must agree on is declared once or checked here."""
import re
import signal

from entrypoint import exitcodes, signals
from tests.helpers.process import REPO

MAIN_C = (REPO / "launcher" / "main.c").read_text()
PYTHON_VERSION = (REPO / "build" / "python-version").read_text().strip()


def test_the_c_entry_exits_with_pythons_internal_error_code():
    assert re.search(r"#define EXIT_INTERNAL (\d+)", MAIN_C).group(1) == str(exitcodes.SOFTWARE)


def test_the_c_entry_blocks_exactly_the_signals_python_collects():
    """main.c blocks every signal before the interpreter starts (KILL and STOP cannot be);
    signals.py collects every signal but those two."""
    body = MAIN_C[MAIN_C.index("static void block_collected_signals"):]
    body = body[:body.index("\n}\n")]
    assert "sigfillset(&set);" in body and "sigdelset" not in body
    assert signals.COLLECTED == frozenset(signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP})


def test_the_collector_switched_off_in_c_is_switched_on_in_python():
    assert "PyGC_Disable();" in MAIN_C
    assert "gc.enable()" in (REPO / "entrypoint" / "supervisor.py").read_text()


def test_one_python_version_for_the_whole_build():
    """build/python-version is the setting; Dockerfile.scratch (which users copy, so it stands
    alone) keeps the same default, and launcher/ holds that version's internals."""
    dockerfile = (REPO / "Dockerfile.scratch").read_text()
    assert re.search(r"^ARG PYTHON_VERSION=(\S+)$", dockerfile, re.MULTILINE).group(1) == PYTHON_VERSION
    internals = REPO / "launcher" / f"cpython{PYTHON_VERSION.replace('.', '')}.c"
    assert f"PY_MINOR_VERSION != {PYTHON_VERSION.split('.')[1]}" in internals.read_text()
    for path in ["build/freeze.sh", "build/release/apt-install.sh", "build/release/sbom.py",
                 "build/freeze_modules.py", "Dockerfile.scratch", "build/release/Dockerfile"]:
        text = (REPO / path).read_text()
        code = "\n".join(line for line in text.splitlines()
                          if not line.lstrip().startswith("#") and not line.startswith("ARG PYTHON_VERSION="))
        assert PYTHON_VERSION not in code, f"{path} names Python {PYTHON_VERSION} itself: read build/python-version"
