"""entrypoint/command.py: the app's command is found as posix_spawnp finds it, and a command that
cannot run here is said with its reason before any wait; a failed start is explained the same way.
Real files in tmp_path, and the real posix_spawnp as the judge of what starts."""
import errno
import os
import shutil
import signal
import subprocess
import threading
import time
import types
from pathlib import Path

import pytest

from entrypoint import command, exitcodes
from tests.helpers.programs import HOST_MACHINE, MISSING_LOADER, OTHER_MACHINE, S390, elf, loader_of, \
    script, without_loader

SH = shutil.which("sh")
NATIVE_MACHINE = HOST_MACHINE is not None
native_only = pytest.mark.skipif(not NATIVE_MACHINE, reason="the architecture is checked on amd64 and arm64 only")


@pytest.fixture(autouse=True)
def no_emulation_seen(monkeypatch, tmp_path):
    """The machine as uname says it, and no binfmt_misc entries (this host may have qemu-user's):
    each test that needs them says so."""
    monkeypatch.setattr(command, "BINFMT_MISC", str(tmp_path / "no-binfmt_misc"))
    monkeypatch.setattr(command, "KERNEL_ARCH", str(tmp_path / "no-kernel-arch"))


def refusal(argv) -> command.CannotRun:
    with pytest.raises(command.CannotRun) as caught:
        command.check(argv)
    return caught.value


def as_machine(monkeypatch, machine):
    real = os.uname()
    monkeypatch.setattr(command.os, "uname", lambda: types.SimpleNamespace(
        sysname=real.sysname, nodename=real.nodename, release=real.release, version=real.version,
        machine=machine))


@pytest.fixture
def dynamic_without_loader(tmp_path):
    program = without_loader(tmp_path / "dynamic")
    if program is None:
        pytest.skip("/bin/true is statically linked here")
    return program


# -- found as posix_spawnp finds it -------------------------------------------------------------
def test_a_missing_path_is_127_not_found():
    problem = refusal(["/no/such/app"])
    assert (problem.code, problem.event) == (127, "not_found")
    assert str(problem) == "cannot run '/no/such/app': not found; check the image's CMD"


def test_a_missing_name_is_127_and_names_the_path_searched(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", f"{tmp_path}/a:{tmp_path}/b")
    problem = refusal(["no-such-app"])
    assert (problem.code, problem.event) == (127, "not_found")
    assert str(problem) == f"cannot run 'no-such-app': not found in PATH={tmp_path}/a:{tmp_path}/b; " \
                           "check the image's CMD"


def test_the_search_uses_our_own_path_or_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv("PATH")
    command.check(["sh"])  # os.defpath: /bin:/usr/bin
    monkeypatch.setenv("PATH", str(tmp_path))
    assert refusal(["sh"]).code == 127


def test_the_first_executable_in_path_wins_over_a_file_without_x(monkeypatch, tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    script(tmp_path / "a" / "app", "#!/bin/sh\n", mode=0o644)
    monkeypatch.setenv("PATH", f"{tmp_path}/a:{tmp_path}/b")
    problem = refusal(["app"])
    assert (problem.code, problem.event) == (126, "not_executable") and "Permission denied" in str(problem)
    script(tmp_path / "b" / "app", f"#!{SH}\n")
    command.check(["app"])


def test_a_program_without_its_loader_is_passed_over_in_path_as_posix_spawnp_does(
        monkeypatch, tmp_path, dynamic_without_loader):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    dynamic_without_loader.rename(tmp_path / "a" / "app")
    monkeypatch.setenv("PATH", f"{tmp_path}/a:{tmp_path}/b")
    assert refusal(["app"]).event == "no_loader"
    with pytest.raises(OSError) as failed:
        os.posix_spawnp("app", ["app"], {})
    assert failed.value.errno == errno.ENOENT, "the kernel's answer: the loader is not there"
    shutil.copy("/bin/true", tmp_path / "b" / "app")
    command.check(["app"])
    pid = os.posix_spawnp("app", ["app"], {})  # glibc tried a/app, then started b/app
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_a_file_that_is_no_program_ends_the_search_as_posix_spawnp_does(monkeypatch, tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    script(tmp_path / "a" / "app", "hello\n")
    script(tmp_path / "b" / "app", f"#!{SH}\n")
    monkeypatch.setenv("PATH", f"{tmp_path}/a:{tmp_path}/b")
    assert refusal(["app"]).event == "not_a_program"
    with pytest.raises(OSError) as failed:
        os.posix_spawnp("app", ["app"], {})
    assert failed.value.errno == errno.ENOEXEC


# -- files that cannot run --------------------------------------------------------------------
def test_a_directory_is_permission_denied():
    problem = refusal(["/etc"])
    assert (problem.code, problem.event) == (126, "not_executable")
    assert str(problem).startswith("cannot run '/etc': Permission denied") and "directory" in str(problem)


def test_a_file_without_x_is_permission_denied_and_says_chmod(tmp_path):
    app = script(tmp_path / "app", f"#!{SH}\n", mode=0o644)
    problem = refusal([str(app)])
    assert (problem.code, problem.event) == (126, "not_executable")
    assert f"cannot run '{app}': Permission denied" in str(problem)
    assert "0644" in str(problem) and "chmod +x" in str(problem)


@pytest.mark.parametrize("mode", [0o644, 0o755])
def test_a_fifo_is_refused_without_being_opened(tmp_path, mode):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fifo.chmod(mode)
    done = []
    worker = threading.Thread(target=lambda: done.append(refusal([str(fifo)])), daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(5)
    assert done, "check blocked on the FIFO"
    assert time.monotonic() - started < 0.5
    assert (done[0].code, done[0].event) == (126, "not_executable")
    assert "Permission denied" in str(done[0]) and "named pipe" in str(done[0])


def test_a_device_is_refused_without_being_opened():
    problem = refusal(["/dev/null"])
    assert (problem.code, problem.event) == (126, "not_executable") and "character device" in str(problem)


@pytest.mark.parametrize("content", [b"hello world\n", b"", b"\x00\x01garbage"], ids=["text", "empty", "binary"])
def test_a_file_that_is_no_program_is_126(tmp_path, content):
    app = script(tmp_path / "app", content)
    problem = refusal([str(app)])
    assert (problem.code, problem.event) == (126, "not_a_program")
    assert str(problem) == f"cannot run '{app}': it is not a program (no ELF header, no #! line)"


@pytest.mark.parametrize("size", [4, 10, 51])
def test_a_truncated_elf_header_is_126(tmp_path, size):
    app = script(tmp_path / "app", (b"\x7fELF\x02\x01\x01" + bytes(64))[:size])
    problem = refusal([str(app)])
    assert (problem.code, problem.event) == (126, "not_a_program")
    assert "not a valid program (truncated ELF header)" in str(problem)


def test_a_truncated_64_bit_header_is_126(tmp_path):
    app = script(tmp_path / "app", elf(tmp_path / "whole").read_bytes()[:60])
    assert "truncated ELF header" in str(refusal([str(app)]))


def test_a_garbled_elf_header_is_126(tmp_path):
    app = script(tmp_path / "app", b"\x7fELF\x07\x01" + bytes(64))
    problem = refusal([str(app)])
    assert (problem.code, problem.event) == (126, "not_a_program") and "garbled ELF header" in str(problem)


def test_an_object_file_is_not_a_program(tmp_path):
    problem = refusal([str(elf(tmp_path / "app.o", e_type=1))])
    assert (problem.code, problem.event) == (126, "not_a_program") and "not a program" in str(problem)


# -- ELF programs ------------------------------------------------------------------------------
def test_a_static_header_passes(tmp_path):
    command.check([str(elf(tmp_path / "app"))])


def test_a_real_static_program_passes(tmp_path):
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    app = tmp_path / "testapp"
    built = subprocess.run(["gcc", "-static", "-O2", "-o", str(app),
                            str(Path(__file__).parent / "docker" / "apps" / "testapp.c")], capture_output=True)
    if built.returncode != 0:
        pytest.skip(f"no static libc: {built.stderr.decode()[-200:]}")
    assert loader_of(str(app)) is None
    command.check([str(app)])


def test_a_dynamic_program_with_its_loader_passes():
    command.check(["/bin/true"])


def test_a_dynamic_program_without_its_loader_is_126_and_says_how_to_fix_it(dynamic_without_loader):
    problem = refusal([str(dynamic_without_loader)])
    assert (problem.code, problem.event) == (126, "no_loader")
    assert str(problem) == (f"cannot run '{dynamic_without_loader}': it is dynamically linked and its loader "
                            f"{MISSING_LOADER} is not in this image; build it static (e.g. CGO_ENABLED=0, gcc "
                            "-static, a musl target) or use a base image that has the loader")


def test_a_32_bit_program_without_its_loader_is_126(tmp_path):
    machine = {62: 3, 183: 40}.get(HOST_MACHINE, HOST_MACHINE)
    app = elf(tmp_path / "app", machine=machine, ei_class=1, loader="/lib/ld-linux.so.2.missing")
    problem = refusal([str(app)])
    assert problem.event == "no_loader" and "/lib/ld-linux.so.2.missing" in str(problem)


def test_a_loader_path_beyond_the_first_read_costs_one_more_small_read(monkeypatch, tmp_path):
    app = elf(tmp_path / "app", loader="/no/such/ld.so", loader_at=20000)
    reads = []
    real = os.pread
    monkeypatch.setattr(command.os, "pread", lambda fd, size, at: reads.append((size, at)) or real(fd, size, at))
    problem = refusal([str(app)])
    assert problem.event == "no_loader" and "/no/such/ld.so" in str(problem)
    assert reads == [(4096, 0), (len("/no/such/ld.so") + 1, 20000)]


def test_program_headers_beyond_the_first_read_are_read_too(tmp_path):
    app = elf(tmp_path / "app", loader="/no/such/ld.so", table_at=8192)
    assert refusal([str(app)]).event == "no_loader"


def test_a_static_program_is_read_once_and_only_its_head(monkeypatch, tmp_path):
    app = elf(tmp_path / "app")
    with open(app, "ab") as grow:
        grow.write(bytes(1 << 20))
    reads = []
    real = os.pread
    monkeypatch.setattr(command.os, "pread", lambda fd, size, at: reads.append((size, at)) or real(fd, size, at))
    command.check([str(app)])
    assert reads == [(4096, 0)]


def test_a_loader_string_cut_short_is_not_a_valid_program(tmp_path):
    app = elf(tmp_path / "app", loader="/lib/ld.so")
    data = bytearray(app.read_bytes())
    data[-1:] = b"x"  # the NUL that ends the loader's name
    app.write_bytes(bytes(data))
    assert "garbled ELF loader path" in str(refusal([str(app)]))


# -- the architecture ---------------------------------------------------------------------------
@native_only
def test_a_program_for_another_architecture_is_126_and_names_both(tmp_path):
    app = elf(tmp_path / "app", machine=OTHER_MACHINE)
    problem = refusal([str(app)])
    other, here = ("arm64", "amd64") if HOST_MACHINE == 62 else ("amd64", "arm64")
    assert (problem.code, problem.event) == (126, "wrong_architecture")
    assert str(problem).startswith(f"cannot run '{app}': it is built for linux/{other}; this is linux/{here}")
    with pytest.raises(OSError) as failed:
        os.posix_spawn(str(elf(tmp_path / "s390x", machine=S390, ei_data=2)), ["app"], {})
    assert failed.value.errno == errno.ENOEXEC, "the kernel's answer to a program it cannot run"


@pytest.mark.parametrize("uname, machine, ei_class, runs, name", [
    ("x86_64", 62, 2, True, "amd64"),
    ("x86_64", 3, 1, True, "386"),
    ("x86_64", 183, 2, False, "arm64"),
    ("x86_64", 40, 1, False, "arm"),
    ("aarch64", 183, 2, True, "arm64"),
    ("aarch64", 40, 1, True, "arm"),
    ("aarch64", 62, 2, False, "amd64"),
    ("aarch64", 243, 2, False, "riscv64"),
    ("x86_64", 0x1234, 2, False, "machine 4660, 64-bit little-endian"),
    ("riscv64", 62, 2, True, "-"),  # another machine: not checked
])
def test_the_architecture_check_by_machine(monkeypatch, tmp_path, uname, machine, ei_class, runs, name):
    as_machine(monkeypatch, uname)
    app = elf(tmp_path / "app", machine=machine, ei_class=ei_class)
    if runs:
        command.check([str(app)])
    else:
        problem = refusal([str(app)])
        assert problem.event == "wrong_architecture"
        assert f"it is built for linux/{name}; this is linux/{'amd64' if uname == 'x86_64' else 'arm64'}" \
               in str(problem)


@native_only
@pytest.mark.parametrize("machine, ei_data, name", [(S390, 2, "s390x"), (21, 1, "ppc64le"), (21, 2, "ppc64"),
                                                    (HOST_MACHINE, 2, None)])
def test_big_and_little_endian_programs_are_named(tmp_path, machine, ei_data, name):
    problem = refusal([str(elf(tmp_path / "app", machine=machine, ei_data=ei_data))])
    assert problem.event == "wrong_architecture"
    assert f"built for linux/{name};" in str(problem) if name else "-endian" in str(problem)


def test_under_qemu_user_the_kernels_own_programs_run_too(monkeypatch, tmp_path):
    """The arm64 binary's tests run under qemu-user on amd64: uname says aarch64, the kernel
    runs the amd64 apps natively."""
    as_machine(monkeypatch, "aarch64")
    app = elf(tmp_path / "app", machine=62)
    assert refusal([str(app)]).event == "wrong_architecture"
    (tmp_path / "arch").write_text("x86_64\n")
    monkeypatch.setattr(command, "KERNEL_ARCH", str(tmp_path / "arch"))
    command.check([str(app)])


QEMU_AARCH64 = ("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n"
                "magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n")


@pytest.mark.parametrize("entry, runs", [(QEMU_AARCH64, True),
                                         (QEMU_AARCH64.replace("enabled", "disabled"), False),
                                         (QEMU_AARCH64.replace("b700", "3e00"), False),
                                         (QEMU_AARCH64.replace("magic 7f", "magic zz"), False)])
def test_a_binfmt_misc_entry_that_takes_the_program_lets_it_run(monkeypatch, tmp_path, entry, runs):
    as_machine(monkeypatch, "x86_64")
    binfmt = tmp_path / "binfmt_misc"
    binfmt.mkdir()
    (binfmt / "status").write_text("enabled\n")
    (binfmt / "register").write_text("")
    (binfmt / "qemu-aarch64").write_text(entry)
    monkeypatch.setattr(command, "BINFMT_MISC", str(binfmt))
    app = elf(tmp_path / "app", machine=183)
    if runs:
        command.check([str(app)])
    else:
        assert refusal([str(app)]).event == "wrong_architecture"


def test_a_binfmt_misc_extension_entry_lets_a_file_run(monkeypatch, tmp_path):
    binfmt = tmp_path / "binfmt_misc"
    binfmt.mkdir()
    (binfmt / "status").write_text("enabled\n")
    (binfmt / "jar").write_text("enabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n")
    monkeypatch.setattr(command, "BINFMT_MISC", str(binfmt))
    command.check([str(script(tmp_path / "app.jar", b"PK\x03\x04"))])
    assert refusal([str(script(tmp_path / "app.zip", b"PK\x03\x04"))]).event == "not_a_program"


# -- scripts --------------------------------------------------------------------------------------
def test_a_script_for_a_missing_interpreter_is_126_and_says_scratch_has_no_shell(tmp_path):
    app = script(tmp_path / "app.sh", "#!/no/such/sh\necho hi\n")
    problem = refusal([str(app)])
    assert (problem.code, problem.event) == (126, "no_interpreter")
    assert str(problem).startswith(f"cannot run '{app}': it is a script for /no/such/sh, which is not in "
                                   "this image (a FROM scratch image has no shell)")


def test_a_script_for_another_missing_interpreter_names_it(tmp_path):
    problem = refusal([str(script(tmp_path / "app.py", "#!/usr/bin/no-python3\n"))])
    assert problem.event == "no_interpreter"
    assert "a script for /usr/bin/no-python3, which is not in this image; " in str(problem)


@pytest.mark.parametrize("text", [f"#!{SH}\nexit 0\n", f"#! {SH} -e\n", f"#!\t {SH}\t-e -u \n", f"#!{SH}",
                                  f"#!{SH} -e\r\n"])
def test_a_script_for_an_interpreter_that_is_here_passes(tmp_path, text):
    command.check([str(script(tmp_path / "app", text))])


@pytest.mark.parametrize("line", ["#! /no/such/sh -e\n", "#!\t/no/such/sh\t-e\n", "#!/no/such/sh"])
def test_the_interpreter_is_read_as_the_kernel_reads_it(tmp_path, line):
    assert "a script for /no/such/sh," in str(refusal([str(script(tmp_path / "app", line))]))


def test_windows_line_endings_are_named(tmp_path):
    problem = refusal([str(script(tmp_path / "app", f"#!{SH}\r\nexit 0\r\n"))])
    assert problem.event == "no_interpreter" and "dos2unix" in str(problem)
    with pytest.raises(OSError) as failed:
        os.posix_spawn(str(tmp_path / "app"), ["app"], {})
    assert failed.value.errno == errno.ENOENT, f"the kernel looks for '{SH}\\r'"


@pytest.mark.parametrize("text", ["#!\n", "#!   \n", "#!" + "x" * 300])
def test_a_hash_bang_line_without_a_usable_interpreter_is_not_a_program(tmp_path, text):
    app = script(tmp_path / "app", text)
    problem = refusal([str(app)])
    assert (problem.code, problem.event) == (126, "not_a_program")
    with pytest.raises(OSError) as failed:
        os.posix_spawn(str(app), ["app"], {})
    assert failed.value.errno == errno.ENOEXEC


def test_a_script_for_an_interpreter_without_x_is_126(tmp_path):
    interpreter = script(tmp_path / "interp", f"#!{SH}\n", mode=0o644)
    problem = refusal([str(script(tmp_path / "app", f"#!{interpreter}\n"))])
    assert (problem.code, problem.event) == (126, "not_executable")
    assert f"it is a script for {interpreter}, which cannot run: Permission denied" in str(problem)


def test_a_script_for_a_dynamic_interpreter_without_its_loader_is_126(tmp_path, dynamic_without_loader):
    problem = refusal([str(script(tmp_path / "app", f"#!{dynamic_without_loader} -x\n"))])
    assert (problem.code, problem.event) == (126, "no_loader")
    assert f"it is a script for {dynamic_without_loader}, which cannot run: it is dynamically linked and " \
           f"its loader {MISSING_LOADER} is not in this image" in str(problem)


def test_a_script_for_a_text_file_is_not_a_program(tmp_path):
    interpreter = script(tmp_path / "interp", "hello\n")
    problem = refusal([str(script(tmp_path / "app", f"#!{interpreter}\n"))])
    assert problem.event == "not_a_program" and "which cannot run: it is not a program" in str(problem)


def test_the_interpreter_is_checked_one_level_deep_only(tmp_path):
    inner = script(tmp_path / "inner", "#!/no/such/sh\n")
    command.check([str(script(tmp_path / "app", f"#!{inner}\n"))])


# -- what check says agrees with what the kernel does ----------------------------------------------
def files_to_start(tmp_path):
    yield script(tmp_path / "text", "hello\n")
    yield script(tmp_path / "empty", b"")
    yield script(tmp_path / "sh-script", f"#!{SH}\nexit 0\n")
    yield script(tmp_path / "spaced", f"#!  {SH} -e\nexit 0\n")
    yield script(tmp_path / "no-sh", "#!/no/such/sh\n")
    yield script(tmp_path / "no-x", f"#!{SH}\n", mode=0o644)
    yield script(tmp_path / "truncated", b"\x7fELF\x02\x01\x01\x00\x00\x00")
    yield elf(tmp_path / "s390x", machine=S390, ei_data=2)
    yield elf(tmp_path / "object", e_type=1)
    yield elf(tmp_path / "missing-loader", loader="/no/such/ld.so")
    yield Path("/bin/true")
    yield Path("/etc")
    dynamic = without_loader(tmp_path / "dynamic")
    if dynamic:
        yield dynamic


def test_check_refuses_exactly_what_posix_spawn_cannot_start(monkeypatch, tmp_path):
    monkeypatch.setattr(command, "BINFMT_MISC", "/proc/sys/fs/binfmt_misc")  # the kernel's own view
    monkeypatch.setattr(command, "KERNEL_ARCH", "/proc/sys/kernel/arch")
    disagree = []
    for path in files_to_start(tmp_path):
        try:
            command.check([str(path)])
            refused = None
        except command.CannotRun as problem:
            refused = problem.event
        try:
            pid = os.posix_spawn(str(path), [str(path)], {}, setpgroup=0)
            os.waitpid(pid, 0)
            started = True
        except OSError:
            started = False
        if started == (refused is not None):
            disagree.append((path.name, refused, started))
    assert disagree == []


# -- the names in messages ---------------------------------------------------------------------
def test_a_long_name_is_cut_short_in_the_message(tmp_path):
    problem = refusal(["/no/such/" + "x" * 1000])
    assert "…'" in str(problem) and len(str(problem)) < 300


def test_a_control_character_in_the_name_is_escaped(tmp_path):
    problem = refusal(["/no/such/\x1b[2Japp"])
    assert str(problem).isprintable() and "\\x1b" in str(problem)


# -- spawn ------------------------------------------------------------------------------------------
def test_spawn_starts_the_app_in_a_process_group_of_its_own():
    pid = command.spawn(["sleep", "5"], dict(os.environ))
    try:
        assert os.getpgid(pid) == pid
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def test_spawn_gives_the_app_an_empty_mask_and_default_dispositions(tmp_path):
    out = tmp_path / "status"
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    old_handler = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        pid = command.spawn([SH, "-c", f"grep -E '^Sig(Blk|Ign)' /proc/self/status > {out}"], dict(os.environ))
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        signal.signal(signal.SIGUSR2, old_handler)
    fields = dict(line.split(":\t") for line in out.read_text().splitlines())
    assert int(fields["SigBlk"], 16) == 0
    assert not int(fields["SigIgn"], 16) & (1 << (signal.SIGUSR2 - 1))


def failing_spawn(monkeypatch, code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(command.os, "posix_spawnp", fail)


def spawn_refusal(argv) -> command.CannotRun:
    with pytest.raises(command.CannotRun) as caught:
        command.spawn(argv, {})
    return caught.value


def test_spawn_without_a_process_slot_is_71_and_names_the_limits(monkeypatch):
    failing_spawn(monkeypatch, errno.EAGAIN)
    problem = spawn_refusal(["/app"])
    assert (problem.code, problem.event) == (exitcodes.OSERR, "no_resources") == (71, "no_resources")
    assert str(problem) == ("cannot start '/app': no process can be created (EAGAIN: the pod's process "
                            "limit, pids.max, or RLIMIT_NPROC is reached)")


def test_spawn_without_memory_is_71_and_names_rlimit_as(monkeypatch):
    failing_spawn(monkeypatch, errno.ENOMEM)
    problem = spawn_refusal(["/app"])
    assert (problem.code, problem.event) == (71, "no_resources")
    assert str(problem) == "cannot start '/app': no process can be created (ENOMEM: out of memory or " \
                           "address space, RLIMIT_AS)"


def test_spawn_enoent_for_a_file_that_is_there_says_why(monkeypatch, dynamic_without_loader):
    failing_spawn(monkeypatch, errno.ENOENT)
    problem = spawn_refusal([str(dynamic_without_loader)])
    assert (problem.code, problem.event) == (126, "no_loader") and MISSING_LOADER in str(problem)


def test_spawn_enoent_for_a_file_that_is_not_there_is_127(monkeypatch):
    failing_spawn(monkeypatch, errno.ENOENT)
    problem = spawn_refusal(["/no/such/app"])
    assert (problem.code, problem.event) == (127, "not_found")


def test_spawn_enoent_the_check_cannot_explain_is_not_found(monkeypatch):
    failing_spawn(monkeypatch, errno.ENOENT)
    problem = spawn_refusal(["/bin/true"])
    assert (problem.code, problem.event) == (127, "not_found")


@pytest.mark.parametrize("code, argv, event, says", [
    (errno.EACCES, ["/etc"], "not_executable", "Permission denied (it is a directory)"),
    (errno.ENOEXEC, ["/etc/hostname"], None, "cannot run '/etc/hostname': "),
    (errno.EPERM, ["/bin/true"], "not_executable", "Operation not permitted"),
    (errno.ETXTBSY, ["/bin/true"], "not_executable", "Text file busy"),
    (errno.E2BIG, ["/bin/true"], "not_executable", "argument list too long"),
])
def test_spawn_errors_are_126_with_the_reason(monkeypatch, code, argv, event, says):
    failing_spawn(monkeypatch, code)
    problem = spawn_refusal(argv)
    assert problem.code == 126 and (event is None or problem.event == event) and says in str(problem)


def test_a_real_spawn_failure_is_diagnosed(tmp_path, dynamic_without_loader):
    assert spawn_refusal([str(dynamic_without_loader)]).event == "no_loader"
    assert spawn_refusal([str(script(tmp_path / "text", "hello\n"))]).event == "not_a_program"
    assert spawn_refusal([str(script(tmp_path / "no-sh", "#!/no/such/sh\n"))]).event == "no_interpreter"
