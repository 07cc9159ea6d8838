"""Files that are, or look like, programs that cannot run here: built in a test's tmp_path for
entrypoint/command.py's checks (tests/test_command.py, tests/test_command_preflight.py)."""
from __future__ import annotations

import os
import platform
import struct
from pathlib import Path

PT_LOAD, PT_INTERP = 1, 3
# e_machine of this machine's own programs, and of a common one it does not run natively.
HOST_MACHINE = {"x86_64": 62, "aarch64": 183}.get(platform.machine())
OTHER_MACHINE = {"x86_64": 183, "aarch64": 62}.get(platform.machine())
S390 = 22  # s390x: big endian, and seldom emulated where these tests run
MISSING_LOADER = "/nonexistent/ld.so"


def elf(path: Path, machine: int | None = None, ei_class: int = 2, ei_data: int = 1, e_type: int = 2,
        loader: str | None = None, table_at: int | None = None, loader_at: int | None = None) -> Path:
    """Write an ELF header for ``machine`` (this machine's by default), 64-bit unless ei_class=1,
    little endian unless ei_data=2; its program headers at ``table_at`` (right after the
    header by default): a PT_INTERP naming ``loader`` (its string at ``loader_at``, else right
    after the table) when given, and one PT_LOAD. Mode 0755. No code: only the headers, which
    is all the check reads."""
    wide = ei_class == 2
    order = "<" if ei_data == 1 else ">"
    header_size, entry_size = (64, 56) if wide else (52, 32)
    entries = [PT_INTERP, PT_LOAD] if loader is not None else [PT_LOAD]
    table_at = header_size if table_at is None else table_at
    loader_bytes = (loader or "").encode() + b"\0"
    loader_at = table_at + entry_size * len(entries) if loader_at is None else loader_at
    ident = b"\x7fELF" + bytes([ei_class, ei_data, 1]) + bytes(9)
    machine = (HOST_MACHINE or 62) if machine is None else machine
    if wide:
        header = ident + struct.pack(order + "HHIQQQIHHHHHH", e_type, machine, 1, 0x401000, table_at, 0, 0,
                                     header_size, entry_size, len(entries), 0, 0, 0)
    else:
        header = ident + struct.pack(order + "HHIIIIIHHHHHH", e_type, machine, 1, 0x8049000, table_at, 0, 0,
                                     header_size, entry_size, len(entries), 0, 0, 0)
    table = b""
    for kind in entries:
        offset, size = (loader_at, len(loader_bytes)) if kind == PT_INTERP else (0, 0x1000)
        if wide:
            table += struct.pack(order + "IIQQQQQQ", kind, 4, offset, 0, 0, size, size, 1)
        else:
            table += struct.pack(order + "IIIIIIII", kind, offset, 0, 0, size, size, 4, 1)
    data = bytearray(header)
    for at, part in ((table_at, table), (loader_at, loader_bytes if loader is not None else b"")):
        data.extend(bytes(max(0, at + len(part) - len(data))))
        data[at:at + len(part)] = part
    path.write_bytes(bytes(data))
    path.chmod(0o755)
    return path


def loader_of(program: str) -> tuple | None:
    """(offset, size, path) of a 64-bit little-endian program's PT_INTERP string; None if static."""
    data = Path(program).read_bytes()
    table_at, = struct.unpack_from("<Q", data, 32)
    entry_size, count = struct.unpack_from("<HH", data, 54)
    for at in range(table_at, table_at + entry_size * count, entry_size):
        kind, _flags, offset, _vaddr, _paddr, size = struct.unpack_from("<IIQQQQ", data, at)
        if kind == PT_INTERP:
            return offset, size, data[offset:offset + size].rstrip(b"\0").decode()
    return None


def without_loader(path: Path, source: str = "/bin/true") -> Path | None:
    """A copy of the dynamically linked ``source`` whose loader is /nonexistent/ld.so, a name no
    longer than the real one (the rest of it NULs); None when ``source`` is static."""
    source = os.path.realpath(source)
    found = loader_of(source)
    if found is None:
        return None
    offset, size, _ = found
    data = bytearray(Path(source).read_bytes())
    new = MISSING_LOADER.encode()
    assert len(new) < size, "the new loader name must fit where the old one was"
    data[offset:offset + size] = new + bytes(size - len(new))
    path.write_bytes(bytes(data))
    path.chmod(0o755)
    return path


def script(path: Path, text: str | bytes, mode: int = 0o755) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)
    return path
