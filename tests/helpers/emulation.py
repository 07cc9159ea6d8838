"""pytest plugin for the process tests of a binary of another architecture, run under qemu-user.

    SK_TEST_BIN=dist/release/sidecar-killer-linux-arm64 SK_TEST_TIME_SCALE=10 \\
        pytest -p tests.helpers.emulation tests/test_exit_and_quit.py tests/test_binary.py

`make test` runs the linux/arm64 release binary this way on an amd64 machine. User-mode emulation
translates the binary's instructions and system calls, but it is not an arm64 kernel: the few
tests below check what the emulator, not the binary, decides. Each is expected to fail here, for
the reason given (an unexpected pass is reported, not hidden); on an arm64 machine they run as
usual. Every other test runs unchanged, except that timing assertions about the wrapper's own
start allow SK_TEST_TIME_SCALE times as long (tests/helpers/process.py: slow).

Seen with Debian bookworm's qemu-user-static 7.2 (make test, 2026-11).
"""
import os
import platform
import struct

import pytest

# ELF e_machine of each architecture's binaries, and uname's name for it.
MACHINES = {62: "x86_64", 183: "aarch64"}

EMULATOR_LIMITS = {
    "test_an_orphan_is_adopted_by_the_wrapper":
        "qemu-user does not emulate prctl(PR_SET_CHILD_SUBREAPER): an orphan goes to PID 1 there",
    "test_realtime_signals_are_forwarded":
        "qemu-user keeps host real-time signals for itself and maps the guest's onto others: "
        "SIGRTMIN (34) sent to the emulated process never reaches it as 34",
    "test_app_starts_with_clean_signal_mask_and_dispositions":
        "the app is a host (amd64) program exec'd by the emulator, which leaves the host signals it "
        "reserves (34, 35) ignored: that mask is qemu's, not the binary's",
    "test_runs_from_its_own_memory":
        "the emulator (qemu-aarch64-static) is mapped into the process beside the binary",
    "test_the_binarys_own_failures_are_70_never_1":
        "prlimit's address-space limit applies to the emulator, which needs far more than the "
        "binary: it dies before the binary's first instruction at every limit tried",
}

# qemu-user does not emulate prctl(PR_SET_CHILD_SUBREAPER): the binary says so, as it must, in
# one warning line at start. Tests that compare whole logs leave that line out under emulation.
NO_SUBREAPER = "cannot adopt the app's orphans (prctl PR_SET_CHILD_SUBREAPER failed)"


def emulator_noise(line: str) -> bool:
    return NO_SUBREAPER in line


def elf_machine(path: str) -> int:
    with open(path, "rb") as f:
        header = f.read(20)
    return struct.unpack_from("<H", header, 18)[0]


def emulated() -> bool:
    binary = os.environ.get("SK_TEST_BIN")
    return bool(binary) and MACHINES.get(elf_machine(binary)) not in (None, platform.machine())


def pytest_collection_modifyitems(config, items):
    if not emulated():
        return
    for item in items:
        reason = EMULATOR_LIMITS.get(item.name) or EMULATOR_LIMITS.get(item.originalname)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=f"under qemu-user: {reason}", strict=False))


def pytest_report_header(config):
    binary = os.environ.get("SK_TEST_BIN")
    if emulated():
        machine = MACHINES[elf_machine(binary)]
        return (f"emulated: {binary} is {machine}, run by qemu-user; {len(EMULATOR_LIMITS)} tests of what "
                f"the emulator decides are expected to fail; timing scale "
                f"{os.environ.get('SK_TEST_TIME_SCALE', '1')}")
    return f"not emulated: {binary or 'python -m entrypoint'} runs natively"
