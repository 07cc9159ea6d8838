"""The frozen binary's start-up budget (docs/performance.md): what the default start imports.

Each module below costs the frozen binary milliseconds at every start; they were cut on
purpose. These tests keep them cut, and keep the shortcuts exact.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

NOT_ON_THE_DEFAULT_PATH = (
    "dataclasses", "inspect", "typing",  # ~20 ms frozen (inspect's run-time hook), see the doc
    "json", "ctypes",                    # only for JSON logs / at spawn
    "unicodedata", "encodings.idna",     # 1.1 MB, not in the frozen binary: non-ASCII hosts are refused
    "http.client", "email", "urllib.parse", "re", "ipaddress",  # our own HTTP client and URL parser
)


def test_the_default_start_imports_none_of_the_cut_modules():
    """Config, readiness, quitting and supervision load without the modules cut for start-up."""
    script = (
        "import sys\n"
        "from entrypoint import cli, config\n"
        "config.load(['--', 'true'], {})\n"
        f"print(' '.join(m for m in {NOT_ON_THE_DEFAULT_PATH!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parent.parent).stdout
    assert loaded.split() == []


def test_a_non_ascii_host_is_refused_without_loading_unicodedata():
    """urllib.parse imports unicodedata for a non-ASCII host; the URL is refused before that."""
    script = (
        "import sys\n"
        "from entrypoint import config\n"
        "for url in ('http://bücher.example/q', 'http://xn--bcher-kva.example/pfäd'):\n"
        "    try:\n"
        "        config.load(['--quit-url', url, '--allow-remote-quit', '--', 'true'], {})\n"
        "    except config.UsageError as error:\n"
        "        print(error)\n"
        "print(' '.join(m for m in ('unicodedata', 'encodings.idna', 'stringprep') if m in sys.modules))\n"
    )
    lines = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True,
                           check=True, cwd=Path(__file__).resolve().parent.parent).stdout.splitlines()
    assert lines[0].startswith("--quit-url: 'http://bücher.example/q' is not ASCII")
    assert lines[1].startswith("--quit-url: 'http://xn--bcher-kva.example/pfäd' is not ASCII")
    assert lines[2:] == [""]


def _entrypoint(args, **kwargs):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
           "SIDECAR_KILLER_DISABLED": "true"}
    return subprocess.run([sys.executable, "-m", "entrypoint", *args], env=env, capture_output=True, **kwargs)


def test_output_is_flushed_before_the_fast_exit():
    """run() ends with os._exit: what main() wrote must still arrive, whole."""
    assert _entrypoint(["--help"]).stdout.decode().rstrip().endswith("exec probe or HEALTHCHECK")
    assert _entrypoint(["--", "sh", "-c", "exit 7"]).returncode == 7


def test_a_closed_stdout_does_not_change_the_exit_code():
    """Started with descriptor 1 closed (sys.stdout is None), the app's code still comes back."""
    closed = _entrypoint(["--", "sh", "-c", "exit 5"], preexec_fn=lambda: __import__("os").close(1))
    assert closed.returncode == 5


# What each start may import, path by path: the standard library's C modules, and ours. Nothing
# in Python from the standard library: not os (os.path, stat and _collections_abc), enum,
# collections, functools, selectors, or the socket and signal wrappers. --version and a probe
# leave the lifecycle (the app's start and supervision) out; a probe is run again and again.
CONFIGURED = {"_operator", "_socket", "entrypoint", *(f"entrypoint.{name}" for name in (
    "cli", "compat", "config", "exitcodes", "log", "record", "signals", "values"))}
ASKING = CONFIGURED | {"errno", "select", *(f"entrypoint.{name}" for name in (
    "http_request", "lookup", "proxy", "waiting"))}
LIFECYCLE = ASKING | {"_stat", "gc", *(f"entrypoint.{name}" for name in (
    "command", "libc", "lifecycle", "native_sidecar", "quitting", "readiness", "supervisor", "terminal"))}
MAY_IMPORT = {
    "version": CONFIGURED | {"entrypoint.buildinfo"},
    "check-ready": ASKING | {"entrypoint.readiness"},
    "quit-only": ASKING | {"entrypoint.quitting"},
    "disabled": LIFECYCLE,
    "waited": LIFECYCLE,
}
# The binary's built-in module (launcher/native.c), stood in for: `python -m entrypoint` would
# reach libc through ctypes instead, which imports os.
BUILT_IN = ("import sys\n"
            "sys.modules['_sidecar_killer'] = built_in = type(sys)('_sidecar_killer')\n"
            "built_in.set_child_subreaper = lambda: True\n"
            "built_in.release_startup_memory = lambda: None\n")


@pytest.mark.parametrize("argv", [
    ["--version"],
    ["--check-ready", "--ready-url", "http://127.0.0.1:9/ready"],
    ["--quit-only", "--quit-url", "http://127.0.0.1:9/q", "--quit-timeout", "0.2"],
    ["--disabled", "--", "true"],
    ["--ready-timeout", "0.2", "--ready-url", "http://127.0.0.1:9/r", "--quit-url", "http://127.0.0.1:9/q", "--", "true"],
], ids=list(MAY_IMPORT))
def test_each_start_imports_only_what_it_uses(argv, request):
    script = (
        BUILT_IN +
        "before = set(sys.modules)\n"
        "from entrypoint import cli\n"
        f"cli.main({argv!r}, {{'PATH': '/usr/bin:/bin'}})\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout.splitlines()[-1]
    assert set(out.split()) - MAY_IMPORT[request.node.callspec.id] == set()


def test_nothing_compiles_python_source_at_run_time():
    """The static binary's interpreter has no compiler (launcher/cpython311.c): exec, eval and
    compile of a string would raise SystemError there. None of our modules names them, as a
    call or through builtins (a standard-library module that compiles, collections.namedtuple
    say, is kept out by MAY_IMPORT above)."""
    found = []
    for path in sorted((Path(__file__).resolve().parent.parent / "entrypoint").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else \
                node.value if isinstance(node, ast.Constant) else None
            if name in ("exec", "eval", "compile"):
                found.append(f"{path.name}:{node.lineno} {name}")
    assert found == []
