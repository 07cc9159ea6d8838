"""A command that cannot run here is said at once with its reason, not after the wait for the proxy:
a program without its loader, one for another architecture, a script without its interpreter, a
file that is no program. Runs `python -m entrypoint` or SK_TEST_BIN; the files are made in
tmp_path and the wrapper runs on this host."""
import json

import pytest

from entrypoint import command
from tests.helpers.lifecycle import urls
from tests.helpers.process import run, slow
from tests.helpers.programs import MISSING_LOADER, S390, elf, script, without_loader

pytestmark = pytest.mark.builds("python", "binary", "emulated")


def dynamic_without_loader(tmp_path):
    program = without_loader(tmp_path / "app")
    if program is None:
        pytest.skip("/bin/true is statically linked here")
    return program, "no_loader", f"it is dynamically linked and its loader {MISSING_LOADER} is not in this image"


def other_architecture(tmp_path):
    program = elf(tmp_path / "app", machine=S390, ei_data=2)
    if command._binfmt_misc_runs(str(program), program.read_bytes()):
        pytest.skip("this host runs s390x programs (binfmt_misc)")
    return program, "wrong_architecture", "it is built for linux/s390x; this is linux/"


def script_without_interpreter(tmp_path):
    return (script(tmp_path / "app.sh", "#!/no/such/sh\necho hello\n"), "no_interpreter",
            "it is a script for /no/such/sh, which is not in this image (a FROM scratch image has no shell)")


def text_file(tmp_path):
    return script(tmp_path / "app", "hello\n"), "not_a_program", "it is not a program (no ELF header, no #! line)"


MAKERS = pytest.mark.parametrize("make", [dynamic_without_loader, other_architecture, script_without_interpreter,
                                          text_file],
                                  ids=["no-loader", "wrong-architecture", "no-interpreter", "not-a-program"])


@MAKERS
def test_a_command_that_cannot_run_here_is_said_before_any_wait(sidecar, tmp_path, make):
    program, _event, says = make(tmp_path)
    fake = sidecar(ready_after=3600)  # never ready: the wait would take the whole timeout
    w = run(urls(fake, "--ready-timeout", "30", "--", str(program), "arg"))
    assert w.returncode == 126, w.stderr
    assert f"sidecar-killer: error: cannot run '{program}': {says}" in w.stderr
    assert w.ended - w.started < slow(0.5) + 1.5, "no wait first"
    assert fake.requests_for("ready") == []
    assert len(fake.quits) == 1, "the proxy is still quit"


@MAKERS
def test_the_json_line_names_the_event(sidecar, tmp_path, make):
    program, event, says = make(tmp_path)
    fake = sidecar(ready_after=3600)
    w = run(urls(fake, "--ready-timeout", "30", "--log-format", "json", "--", str(program)))
    assert w.returncode == 126
    (record,) = [json.loads(line) for line in w.stderr_lines if json.loads(line)["level"] == "error"]
    assert record["event"] == event and says in record["message"]
