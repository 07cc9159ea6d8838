"""Two libc calls the supervisor needs: the child-subreaper flag, and giving memory back.

The static binary carries them as the built-in module ``_sidecar_killer`` (launcher/native.c): it
cannot load libc with ctypes. ``python -m entrypoint`` reaches libc through ctypes instead.
"""

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>

try:
    import _sidecar_killer as _builtin
except ImportError:
    _builtin = None


_opened = None


def _libc():  # opened once for both calls
    global _opened
    if _opened is None:
        import ctypes  # only outside the static binary, and only when called
        _opened = ctypes.CDLL(None, use_errno=True)
    return _opened


def set_child_subreaper() -> bool:
    """Orphans of the app become our children, so we reap them. True if the kernel agreed."""
    if _builtin is not None:
        return _builtin.set_child_subreaper()
    try:
        return _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def give_back_startup_pages() -> None:
    """Hand back the heap start-up freed and, in the static binary, the pages of code and
    frozen bytecode that only start-up touched (docs/performance.md)."""
    if _builtin is not None:
        _builtin.release_startup_memory()
        return
    try:
        _libc().malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to trim
