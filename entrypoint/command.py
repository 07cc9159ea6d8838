"""The app's command: where posix_spawnp finds it, whether it can run here at all, its start.

check() says before the wait for the proxy what the kernel would only say after it, and then in
two words ("No such file or directory" of a file that is there, "Exec format error"): a
dynamically linked program without its loader, a script without its interpreter, a program
for another architecture, a file that is no program. It reads at most the first 4 KiB of the
file (one pread; one more only when the ELF loader's name lies beyond), and nothing of a FIFO
or a device, so the start costs nothing measurable. spawn() starts the app and explains any
failure the same way.
"""
import errno
import posix as os  # the C module: os.py brings os.path, stat and _collections_abc
import _signal as signal  # the C module: signal.py brings enum
import _stat as stat  # the C module: stat.py is its Python copy

from entrypoint import exitcodes
from entrypoint.values import decoded

# Reset to default in the app (it starts as if exec'd by a shell); KILL/STOP cannot be set.
APP_DEFAULTS = frozenset(signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP})

HEAD = 4096        # the first read: an ELF header and its program headers, or a #! line
BINPRM_BUF = 256   # how much of a #! line the kernel reads (BINPRM_BUF_SIZE)
SHOWN = 200        # the longest name quoted whole in a message
BINFMT_MISC = "/proc/sys/fs/binfmt_misc"
DEFAULT_PATH = "/bin:/usr/bin"  # glibc's search path when PATH is unset (os.defpath)
KERNEL_ARCH = "/proc/sys/kernel/arch"

# What the kernel of each machine runs natively: (e_machine, EI_CLASS), little endian.
NATIVE = {"x86_64": ((62, 2), (3, 1)),     # amd64, and 386 (IA-32 emulation)
          "aarch64": ((183, 2), (40, 1))}  # arm64, and arm (AArch32)
# Go's names for (e_machine, EI_CLASS, EI_DATA): the names in `docker build --platform`.
PLATFORMS = {(62, 2, 1): "amd64", (3, 1, 1): "386", (183, 2, 1): "arm64", (40, 1, 1): "arm",
             (21, 2, 1): "ppc64le", (21, 2, 2): "ppc64", (22, 2, 2): "s390x", (243, 2, 1): "riscv64",
             (258, 2, 1): "loong64"}
UNAME_PLATFORMS = {"x86_64": "amd64", "aarch64": "arm64"}
SHELLS = ("sh", "bash", "ash", "dash", "zsh", "ksh", "busybox")

# Failures after which posix_spawnp tries the next PATH entry (ENOENT, EACCES from execve).
PASSED_OVER = ("not_executable", "no_loader", "no_interpreter")
# stat errors that mean "not here" to posix_spawnp's PATH search, as to glibc's execvpe.
ABSENT = (errno.ENOENT, errno.ENOTDIR, errno.ESTALE, errno.ENODEV, errno.ETIMEDOUT)


class CannotRun(Exception):
    """The app cannot be started: .code is the exit code, .event the log event name, str() the
    one-line message."""

    def __init__(self, code: int, event: str, message: str):
        super().__init__(message)
        self.code = code
        self.event = event


def check(command: list) -> None:
    """Raise CannotRun when the command cannot run at all; before any wait for the proxy.

    The file is the one posix_spawnp would start: ``command[0]`` itself if it has a '/', else
    the first in the wrapper's own PATH (default DEFAULT_PATH) that starts; one that cannot (no
    execute bit, no loader, no interpreter) is passed over as posix_spawnp passes it over, and
    is what is said when no other starts. Exits: 127 not there at all, 126 there but it cannot
    run. What only the start can tell (a missing shared library, say) is left to it.
    """
    name = command[0]
    passed_over = None
    for path in candidates(name):
        try:
            status = os.stat(path)
        except OSError as error:
            if error.errno in ABSENT:
                continue
            problem = _cannot_run(name, event="not_executable", reason=error.strerror)  # ELOOP, EACCES...
            if error.errno != errno.EACCES:
                raise problem from None
        else:
            problem = _problem(name, path, status)
            if problem is None:
                return
            if problem.event not in PASSED_OVER:
                raise problem
        passed_over = passed_over or problem
    raise passed_over or not_found(name)


def spawn(command: list, env: dict) -> int:
    """Start the app: posix_spawnp in a process group of its own (setpgroup=0), with an empty
    signal mask and default dispositions (APP_DEFAULTS); returns its pid. Raises CannotRun on
    any OSError, with the reason found as check() finds it, or the errno's own words."""
    try:
        return os.posix_spawnp(command[0], command, env, setpgroup=0,
                               setsigmask=(), setsigdef=APP_DEFAULTS)
    except OSError as error:
        raise _spawn_failed(command, error) from None


def candidates(name: str) -> list:
    """The files posix_spawnp tries for ``name``, in order: ``name`` itself if it has a '/',
    else ``name`` in each directory of the wrapper's own PATH (posix_spawnp reads ours)."""
    if "/" in name:
        return [name]
    return [directory + name if directory.endswith("/") else f"{directory or '.'}/{name}"
            for directory in search_path().split(":")]


def search_path() -> str:
    """The wrapper's own PATH, as it started (posix_spawnp reads it), or glibc's default."""
    path = os.environ.get(b"PATH")
    return DEFAULT_PATH if path is None else decoded(path)


def not_found(name: str) -> CannotRun:
    where = "" if "/" in name else f" in PATH={search_path()}"
    return CannotRun(exitcodes.NOT_FOUND, event="not_found",
                     message=f"cannot run {shown(name)}: not found{where}; check the image's CMD")


def shown(name: str) -> str:
    """``name`` quoted for a message, cut short when it is long."""
    return repr(_cut(name))


def _cannot_run(name: str, event: str, reason: str) -> CannotRun:
    return CannotRun(exitcodes.CANNOT_EXECUTE, event=event, message=f"cannot run {shown(name)}: {reason}")


def _spawn_failed(command: list, error: OSError) -> CannotRun:
    name = command[0]
    code = error.errno
    if code in (errno.EAGAIN, errno.ENOMEM):
        why = ("EAGAIN: the pod's process limit, pids.max, or RLIMIT_NPROC is reached" if code == errno.EAGAIN
               else "ENOMEM: out of memory or address space, RLIMIT_AS")
        return CannotRun(exitcodes.OSERR, event="no_resources",
                         message=f"cannot start {shown(name)}: no process can be created ({why})")
    if code == errno.E2BIG:
        return _cannot_run(name, event="not_executable", reason="argument list too long (E2BIG: its arguments "
                           "and environment together exceed the kernel's limit)")
    if code in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.ENOEXEC, errno.EISDIR, errno.ENOTDIR):
        try:
            check(command)  # the file may be there: say why the kernel would not start it
        except CannotRun as problem:
            if problem.event != "not_found" or code == errno.ENOENT:
                return problem
        if code == errno.ENOENT:
            return not_found(name)
    return _cannot_run(name, event="not_executable", reason=f"{error.strerror or error}; "
                       "check that it is an executable for this platform with mode +x")


def _problem(name: str, path: str, status: os.stat_result) -> CannotRun | None:
    """Why the kernel would not start the file at ``path``, found for ``name``; None if it
    would (or only the start can tell)."""
    found = _reason(path, status, 0)
    return None if found is None else _cannot_run(name, event=found[0], reason=found[1])


def _why(event: str, reason: str) -> tuple:
    """A file's failure: the log event, and the reason in a user's words."""
    return event, reason


def _reason(path: str, status: os.stat_result, depth: int) -> tuple | None:
    """(event, reason) for a file that cannot run; else None. ``depth`` 1: the file is a
    script's interpreter."""
    mode = status.st_mode
    if stat.S_ISDIR(mode):
        return _why(event="not_executable", reason="Permission denied (it is a directory)")
    if not stat.S_ISREG(mode):  # a FIFO or a device: never opened, a read could block
        return _why(event="not_executable", reason=f"Permission denied (it is {_kind(mode)}, not a program file)")
    if not os.access(path, os.X_OK):
        if not mode & 0o111:
            detail = f"mode {mode & 0o7777:04o} has no execute bit: chmod +x it in the image"
        else:
            detail = (f"mode {mode & 0o7777:04o} does not let uid {os.geteuid()} execute it, "
                      "or its filesystem is mounted noexec")
        return _why(event="not_executable", reason=f"Permission denied ({detail})")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError:
        return None  # execute-only: the kernel can still start it; we cannot look inside
    try:
        head = os.pread(fd, HEAD, 0)
        if head.startswith(b"\x7fELF"):
            found = _elf_reason(fd, head)
        elif head.startswith(b"#!"):
            found = _script_reason(head, depth)
        else:
            found = _why(event="not_a_program", reason="it is not a program (no ELF header, no #! line)")
    except OSError:
        return None
    finally:
        os.close(fd)
    if found is not None and _binfmt_misc_runs(path, head):
        return None  # a registered handler (qemu-user, say) runs it
    return found


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _invalid(what: str) -> tuple:
    return _why(event="not_a_program", reason=f"it is not a valid program ({what})")


def _elf_reason(fd: int, head: bytes) -> tuple | None:
    """What binfmt_elf would refuse: a garbled header, another architecture, a missing loader."""
    if len(head) < 52:  # the 32-bit header's size; the 64-bit one is 64 bytes
        return _invalid("truncated ELF header")
    ei_class, ei_data = head[4], head[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        return _invalid("garbled ELF header")
    wide = ei_class == 2
    order = "little" if ei_data == 1 else "big"
    if wide and len(head) < 64:
        return _invalid("truncated ELF header")

    def field(data: bytes, at: int, size: int) -> int:
        return int.from_bytes(data[at:at + size], order)

    machine = field(head, 18, 2)
    platform = _platform(machine, ei_class, ei_data)
    if not _runs_here(machine, ei_class, ei_data):
        here = UNAME_PLATFORMS[os.uname().machine]
        return _why(event="wrong_architecture", reason=f"it is built for linux/{platform}; this is linux/{here}: "
                    f"build it for linux/{here} (docker build --platform linux/{here})")
    if field(head, 16, 2) not in (2, 3):  # ET_EXEC, ET_DYN
        return _why(event="not_a_program", reason=f"it is an ELF file for linux/{platform} but not a program "
                    "(an object file, a core dump?)")
    if wide:
        table_at, entry_size, count = field(head, 32, 8), field(head, 54, 2), field(head, 56, 2)
    else:
        table_at, entry_size, count = field(head, 28, 4), field(head, 42, 2), field(head, 44, 2)
    if entry_size != (56 if wide else 32) or not 0 < count <= 65536 // entry_size:
        return _invalid("garbled ELF program headers")
    table = _bytes(fd, head, table_at, entry_size * count)
    if len(table) < entry_size * count:
        return _invalid("truncated ELF program headers")
    for at in range(0, len(table), entry_size):
        if field(table, at, 4) != 3:  # PT_INTERP: the loader's path, NUL-terminated
            continue
        if wide:
            where, size = field(table, at + 8, 8), field(table, at + 32, 8)
        else:
            where, size = field(table, at + 4, 4), field(table, at + 16, 4)
        raw = _bytes(fd, head, where, size) if 2 <= size <= 4096 else b""
        if len(raw) != size or not raw.endswith(b"\0"):  # the kernel's checks
            return _invalid("garbled ELF loader path")
        loader = decoded(raw.split(b"\0", 1)[0])
        if not os.access(loader, os.F_OK):
            return _why(event="no_loader", reason=f"it is dynamically linked and its loader {_cut(loader)} "
                        "is not in this image; build it static (e.g. CGO_ENABLED=0, gcc -static, a musl target) "
                        "or use a base image that has the loader")
        return None  # the kernel reads the first PT_INTERP only
    return None  # static


def _bytes(fd: int, head: bytes, at: int, size: int) -> bytes:
    """``size`` bytes at offset ``at``: from the first read, or one more small read past it."""
    if at + size <= len(head):
        return head[at:at + size]
    if len(head) < HEAD:
        return b""  # past the end of the file
    return os.pread(fd, size, at)


def _platform(machine: int, ei_class: int, ei_data: int) -> str:
    known = PLATFORMS.get((machine, ei_class, ei_data))
    if known:
        return known
    return f"machine {machine}, {32 * ei_class}-bit {'little' if ei_data == 1 else 'big'}-endian"


def _runs_here(machine: int, ei_class: int, ei_data: int) -> bool:
    """Whether this kernel runs ELF programs for ``machine`` natively. Only amd64 and arm64
    machines are checked. Under qemu-user, uname names the emulated machine (the static binary's
    tests run it so): then the kernel's own, which runs its programs natively, counts too."""
    native = NATIVE.get(os.uname().machine)
    if native is None:
        return True  # another machine: not checked
    if ei_data == 1 and (machine, ei_class) in native:
        return True
    try:
        with open(KERNEL_ARCH) as arch:  # only on a mismatch; Linux 6.1 and later
            kernel = arch.read().strip()
    except OSError:
        return False
    return ei_data == 1 and (machine, ei_class) in NATIVE.get(kernel, ())


def _script_reason(head: bytes, depth: int) -> tuple | None:
    """What binfmt_script would refuse: no interpreter named, or one that cannot run. The
    interpreter is checked one level deep: a script for a script is left to the start."""
    interpreter = _interpreter(head)
    if interpreter is None:
        return _why(event="not_a_program", reason=f"it is not a program: its #! line is longer than the "
                    f"{BINPRM_BUF} bytes the kernel reads")
    if not interpreter:
        return _why(event="not_a_program", reason="it is not a program: its #! line names no interpreter")
    if depth > 0:
        return None
    try:
        status = os.stat(interpreter)
    except OSError:
        return _why(event="no_interpreter", reason=f"it is a script for {_cut(interpreter)}, which is not in "
                    f"this image{_missing_hint(interpreter)}")
    found = _reason(interpreter, status, depth + 1)
    if found is None:
        return None
    return _why(event=found[0], reason=f"it is a script for {_cut(interpreter)}, which cannot run: {found[1]}")


def _interpreter(head: bytes) -> str | None:
    """The interpreter a #! line names, read as the kernel reads it (fs/binfmt_script.c): the
    file's first 256 bytes up to the newline; the name runs from the first character that is not
    a space or tab to the next space, tab or NUL. '' when it names none; None when the name runs
    past the 256 bytes (the kernel refuses it as cut short)."""
    buf = head[:BINPRM_BUF].ljust(BINPRM_BUF, b"\0")  # the kernel's buffer is zeroed past the file
    newline = buf.find(b"\n")
    rest = buf[2:newline if newline >= 0 else BINPRM_BUF - 1].lstrip(b" \t")
    ends = [at for at in (rest.find(b" "), rest.find(b"\t"), rest.find(b"\0")) if at >= 0]
    if not ends and newline < 0:
        return None
    return decoded(rest[:min(ends)] if ends else rest)


def _missing_hint(interpreter: str) -> str:
    if interpreter.endswith("\r"):
        return "; its #! line ends in a carriage return (Windows line endings): convert the script " \
               "with dos2unix"
    if interpreter.rsplit("/", 1)[-1] in SHELLS:
        return " (a FROM scratch image has no shell); make the program itself the command, or use " \
               "a base image that has a shell"
    return "; make the program itself the command, or use a base image that has it"


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def _binfmt_misc_runs(path: str, head: bytes) -> bool:
    """Whether an enabled binfmt_misc entry (qemu-user for another architecture, say) takes this
    file, where /proc/sys/fs/binfmt_misc is mounted. Read only for a file found unable to run;
    a container seldom sees the host's entries, so there a foreign program is still refused."""
    try:
        with open(f"{BINFMT_MISC}/status") as status:
            if status.read().strip() != "enabled":
                return False
        names = os.listdir(BINFMT_MISC)
    except OSError:
        return False
    for name in names:
        if name in ("status", "register"):
            continue
        try:
            with open(f"{BINFMT_MISC}/{name}") as entry:
                if _binfmt_entry_takes(entry.read(), path, head):
                    return True
        except (OSError, ValueError):
            continue  # gone meanwhile, or a format we do not know
    return False


def _binfmt_entry_takes(entry: str, path: str, head: bytes) -> bool:
    """Whether one binfmt_misc entry, as /proc shows it, takes this file: by the magic bytes at
    its offset (under its mask), or by the extension after the path's last dot."""
    fields = dict(line.partition(" ")[::2] for line in entry.splitlines())
    if "enabled" not in fields:
        return False
    if "magic" in fields:
        magic = bytes.fromhex(fields["magic"])
        mask = bytes.fromhex(fields.get("mask", "ff" * len(magic)))
        at = int(fields.get("offset", "0"))
        data = head[at:at + len(magic)]
        return len(data) == len(magic) and all((d ^ m) & k == 0 for d, m, k in zip(data, magic, mask))
    dot = path.rfind(".")
    return "extension" in fields and dot >= 0 and "." + path[dot + 1:] == fields["extension"]
