"""The static binary (dist/sidecar-killer) as users run it: in place, isolated, and complete.

Every option and error path runs in the binary and in `python -m entrypoint` side by side: the
same exit code and the same lines (digits aside) prove that no module it needs was left out of
the frozen set (build/modules.spec). The binary is `make build`'s (or SK_TEST_BIN).
"""
import os
import subprocess
import re
import signal
from pathlib import Path

import pytest

from tests.helpers.process import REPO, Wrapper, run, sigecho, slow

pytestmark = pytest.mark.builds("python", "emulated")  # python: against dist/sidecar-killer, beside python -m entrypoint

SH = "/bin/sh"


@pytest.fixture(scope="module")
def binary() -> Path:
    path = Path(os.environ.get("SK_TEST_BIN") or REPO / "dist" / "sidecar-killer")
    if not path.is_file():
        reason = f"no binary at {path}: `make build` makes it"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture
def as_binary(binary, monkeypatch):
    """Run the wrapper under test as the binary (tests/helpers/process.py reads this variable)."""
    monkeypatch.setenv("SK_TEST_BIN", str(binary))


def run_as(wrapper, binary, args, monkeypatch, **kwargs):
    if wrapper == "binary":
        monkeypatch.setenv("SK_TEST_BIN", str(binary))
    else:
        monkeypatch.delenv("SK_TEST_BIN", raising=False)
    return run(args, timeout=30, **kwargs)


def normalized(text: str) -> list:
    """Digits vary between runs (ports, pids, seconds, attempts), and so does how many times
    a line repeats (probes while not ready); everything else must not. `--version`'s build
    stamp (commit, Debian packages, platform) is the binary's own: test_version_names_... below
    and tests/test_release.py check it."""
    text = re.sub(r"\(commit [^)]*\)", "(build)", text)
    lines = re.sub(r"\d+", "N", text).splitlines()
    return [line for i, line in enumerate(lines) if i == 0 or line != lines[i - 1]]


# id: (args, environment, fake sidecar settings or None for none at all, expected exit code).
# {ready} and {quit} stand for the fake sidecar's URLs.
URLS = ["--ready-url", "{ready}", "--quit-url", "{quit}"]
PATHS = {
    "help": (["--help"], {}, None, 0),
    "version": (["-V"], {}, None, 0),
    "unknown option": (["--bogus", "--", "true"], {}, None, 64),
    "bad number": (["--ready-timeout", "soon", "--", "true"], {}, None, 64),
    "bad choice from env": (["--", "true"], {"SIDECAR_KILLER_QUIT_ON": "sometimes"}, None, 64),
    "bad url scheme": (["--ready-url", "https://127.0.0.1/", "--", "true"], {}, None, 64),
    "bad url port": (["--ready-url", "http://127.0.0.1:99999/", "--", "true"], {}, None, 64),
    "non-ascii host": (["--ready-url", "http://prøxy.local/ready", "--", "true"], {}, None, 64),
    "remote quit url": (["--quit-url", "http://192.0.2.1:15020/quitquitquit", "--", "true"], {}, None, 64),
    "no command": ([], {}, None, 64),
    "grace not shorter than timeout": (["--no-proxy-grace", "10", "--ready-timeout", "5", "--", "true"], {},
                                       None, 64),
    "remote quit allowed": (["--allow-remote-quit", "--quit-url", "http://192.0.2.1:15020/quitquitquit",
                             "--no-wait", "--quit-on", "never", "--", "true"], {}, None, 0),
    "one-shots combined": (["--check-ready", "--quit-only"], {}, None, 64),
    "bad go duration": (["--", "true"], {"WAIT_FOR_ENVOY_TIMEOUT": "ten"}, None, 64),
    "bad scuttle bool": (["--", "true"], {"START_WITHOUT_ENVOY": "yes"}, None, 64),
    "text logs": (URLS + ["--", SH, "-c", "exit 3"], {}, {}, 3),
    "json logs": (URLS + ["--log-format", "json", "--", SH, "-c", "exit 0"], {}, {}, 0),
    "debug logs": (URLS + ["--log-level", "debug", "--", SH, "-c", "exit 0"], {}, {"ready_after": slow(0.3)}, 0),
    "quiet": (URLS + ["--log-level", "quiet", "--", "true"], {}, {}, 0),
    "localhost by name": (["--ready-url", "http://localhost:{ready_port}/healthz/ready", "--quit-url",
                           "http://localhost:{quit_port}/quitquitquit", "--", "true"], {}, {}, 0),
    "linkerd preset": (["--mesh", "linkerd", "--ready-url", "{ready}", "--", "true"], {},
                       {"mesh": "linkerd", "quit_mode": "disabled"}, 0),
    "scuttle variables": (["--", SH, "-c", "exit 2"],
                          {"ENVOY_ADMIN_API": "http://127.0.0.1:{ready_port}", "ISTIO_QUIT_API": "{quit_base}",
                           "WAIT_FOR_ENVOY_TIMEOUT": "5s", "NEVER_KILL_ISTIO_ON_FAILURE": "true",
                           "SCUTTLE_LOGGING": "true", "ISTIO_FALLBACK_PKILL": "true"}, {}, 2),
    "linkerd-await disabled": (["--", "true"], {"LINKERD_AWAIT_DISABLED": "1"}, None, 0),
    "disabled": (["--disabled", "--", SH, "-c", "exit 4"], {}, None, 4),
    "no wait": (URLS + ["--no-wait", "--", "true"], {}, {"ready_after": 3600}, 0),
    "signal group": (URLS + ["--signal-group", "--", SH, "-c", "kill -TERM $$"], {}, {}, 143),
    "check ready: ready": (URLS + ["--check-ready"], {}, {}, 0),
    "check ready: not ready": (URLS + ["--check-ready"], {}, {"ready_after": 3600}, 1),
    "check ready: nothing listens": (["--check-ready", "--ready-url", "http://127.0.0.1:9/"], {}, None, 1),
    "quit only": (URLS + ["--quit-only"], {}, {}, 0),
    "quit only: refused": (["--quit-only", "--quit-url", "http://127.0.0.1:9/q", "--quit-timeout", "0.2"],
                           {}, None, 1),
    "quit fails: 500": (URLS + ["--quit-timeout", "0.3", "--", "true"], {}, {"quit_mode": "status:500"}, 0),
    "quit closed, proxy gone": (URLS + ["--", "true"], {}, {"quit_mode": "close", "quit_exit": 0.05}, 0),
    "ready timeout: fail": (URLS + ["--ready-timeout", "0.3", "--", "true"], {}, {"ready_after": 3600}, 69),
    "ready timeout: run": (URLS + ["--ready-timeout", "0.3", "--on-ready-timeout", "run", "--", "true"], {},
                           {"ready_after": 3600}, 0),
    "no proxy: grace": (["--ready-url", "http://127.0.0.1:9/r", "--quit-url", "http://127.0.0.1:9/q",
                         "--no-proxy-grace", "0.3", "--", "true"], {}, None, 0),
    "not found": (URLS + ["--", "/nonexistent/app"], {}, {}, 127),
    "not executable": (URLS + ["--", "/etc/hostname"], {}, {}, 126),
    "killed by a signal": (URLS + ["--", SH, "-c", "kill -USR1 $$"], {}, {}, 128 + signal.SIGUSR1),
}


@pytest.mark.parametrize("case", PATHS.values(), ids=PATHS.keys())
def test_every_path_runs_in_the_binary_as_in_python(binary, sidecar, monkeypatch, case):
    """Same exit code and same lines from the binary as from `python -m entrypoint`: nothing missing."""
    args, environment, fake_settings, expected = case
    results = {}
    for wrapper in ("python", "binary"):
        fill = {}
        if fake_settings is not None:
            fake = sidecar(**fake_settings)
            fill = {"ready": fake.ready_url, "quit": fake.quit_url, "ready_port": fake.ready_port,
                    "quit_port": fake.quit_port, "quit_base": fake.quit_url.rsplit("/", 1)[0]}
        w = run_as(wrapper, binary, [arg.format(**fill) for arg in args], monkeypatch,
                   extra_env={name: value.format(**fill) for name, value in environment.items()})
        results[wrapper] = w
        assert w.returncode == expected, (wrapper, w.stderr)
    python, frozen = results["python"], results["binary"]
    assert "Traceback" not in frozen.stderr and "Error:" not in frozen.stderr, frozen.stderr
    assert normalized(frozen.stderr) == normalized(python.stderr)
    assert normalized(frozen.stdout) == normalized(python.stdout)


def test_version_names_the_debian_packages_of_its_cpython_and_glibc(binary, monkeypatch):
    """The binary names the CPython and the glibc it runs (linked in) and the Debian packages and
    versions they came from, as its build stamped them (build/freeze.sh asks dpkg)."""
    w = run_as("binary", binary, ["--version"], monkeypatch)
    assert w.returncode == 0, w.stderr
    python_version = (REPO / "build" / "python-version").read_text().strip()
    match = re.fullmatch(r"sidecar-killer \S+ \(commit \S+, CPython (\d+\.\d+\.\d+) from Debian's (\S+) (\S+), "
                         r"glibc (2\.\d+) from Debian's (\S+) (\S+), linux/\w+\)", w.stdout.strip())
    assert match, w.stdout
    python, python_package, python_debian, glibc, libc_package, libc_debian = match.groups()
    assert python.startswith(python_version + ".") and python_package == f"libpython{python_version}-dev"
    assert libc_package == "libc6-dev"
    assert python_debian.split(":")[-1].startswith(python + "-"), "the package's upstream version is the one running"
    assert libc_debian.split(":")[-1].startswith(glibc + "-")


def term_pending_at_exec():
    """preexec_fn: TERM blocked and already pending when the binary starts (both survive execve)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_while_the_interpreter_starts_is_never_lost(as_binary, sidecar):
    """A TERM that arrives while the interpreter starts is pending when the supervisor first
    looks: 143, the app never started, one quit. (Made pending before execve, so every run sees
    the same moment.)"""
    fake = sidecar(ready_after=3600)
    w = run(["--ready-url", fake.ready_url, "--quit-url", fake.quit_url, "--", SH, "-c", "echo started"],
            timeout=10, preexec_fn=term_pending_at_exec)
    assert w.returncode == 143, w.stderr
    assert "started" not in w.stdout
    assert len(fake.quits) == 1, w.stderr


def test_the_launcher_blocks_signals_before_anything_else():
    """main()'s first statement blocks every signal: from then on a TERM waits for the supervisor
    instead of killing the process before the quit. (Before that line no program can act: a
    signal between execve and main is the kernel's to deliver; docs/frozen-binary.md.)"""
    main = (REPO / "launcher" / "main.c").read_text()
    body = main.split("int main(int argc, char **argv)\n{", 1)[1]
    first = next(line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("/*"))
    assert first == "block_collected_signals();"
    blocker = main.split("static void block_collected_signals(void)", 1)[1].split("}", 1)[0]
    assert "sigfillset(&set);" in blocker and "sigprocmask(SIG_BLOCK, &set, NULL);" in blocker


def test_runs_from_its_own_memory(binary, as_binary, sidecar):
    """While the app runs, the only file mapped into the process is the binary itself: no .so, nothing extracted."""
    fake = sidecar()
    w = Wrapper(["--ready-url", fake.ready_url, "--quit-url", fake.quit_url, "--", *sigecho()])
    try:
        w.app_pid()
        maps = Path(f"/proc/{w.pid}/maps").read_text().splitlines()
        files = {line.split(None, 5)[5] for line in maps if len(line.split(None, 5)) == 6}
        assert {name for name in files if not name.startswith("[")} == {str(binary.resolve())}, files
    finally:
        w.kill_tree()


def test_python_environment_variables_do_not_reach_the_interpreter(as_binary, tmp_path):
    """An isolated interpreter: PYTHON* variables meant for the app's own Python change nothing."""
    (tmp_path / "startup.py").write_text("raise SystemExit(9)\n")
    env = {"PATH": os.environ["PATH"], "PYTHONHOME": "/nonexistent", "PYTHONPATH": str(tmp_path),
           "PYTHONSTARTUP": str(tmp_path / "startup.py"), "PYTHONINSPECT": "1", "PYTHONWARNINGS": "error",
           "PYTHONDEVMODE": "1", "PYTHONMALLOC": "debug", "PYTHONUTF8": "0", "PYTHONIOENCODING": "latin-1",
           "LC_ALL": "C", "SIDECAR_KILLER_DISABLED": "true"}
    w = run(["--", SH, "-c", 'echo "$PYTHONHOME ünï"'], env=env)
    assert w.returncode == 0, w.stderr
    assert w.stdout == "/nonexistent ünï"
    assert w.stderr.splitlines()[0] == "sidecar-killer: disabled: not waiting for or quitting the proxy"


def test_a_non_utf8_argument_reaches_the_app_unchanged(as_binary, tmp_path):
    """UTF-8 mode with surrogateescape: bytes that are not UTF-8 pass through to the app as they were."""
    out = tmp_path / "arg"
    w = run(["--disabled", "--", SH, "-c", f'printf %s "$1" > {out}', "sh", os.fsdecode(b"caf\xe9")])
    assert w.returncode == 0, w.stderr
    assert out.read_bytes() == b"caf\xe9"


def test_the_binarys_own_failures_are_70_never_1(binary):
    """Starved of memory at different points of the interpreter's start, the binary exits 70 with a
    line saying so (or the kernel kills it before its first instruction), never 1, which would
    pass for the app's own code."""
    codes = {}
    for mib in range(5, 13):
        result = subprocess.run(["prlimit", f"--as={mib * 1024 * 1024}", str(binary), "--disabled", "--", "true"],
                                capture_output=True, timeout=30)
        codes[mib] = result.returncode
        if result.returncode == 70:
            assert b"sidecar-killer: error:" in result.stderr or b"Traceback" in result.stderr
    assert set(codes.values()) <= {0, 70, -signal.SIGSEGV, -signal.SIGKILL}, codes
    assert 70 in codes.values() and 0 in codes.values(), codes
