"""The controlling terminal: while we hold its foreground, the app does.

The app runs in a process group of its own, so a signal sent to our group (kill to the group)
reaches it once, through us. A terminal sends its signals (Ctrl-C, Ctrl-\\, Ctrl-Z) to its
foreground group: that becomes the app's, so they too reach it once, from the kernel (tini's
isolate_child does the same). Only when the foreground is ours to pass on: a job started in
the background, or sent there with `bg`, leaves the terminal to the shell.
"""
import posix as os  # the C module: os.py brings os.path, stat and _collections_abc


class Terminal:
    def __init__(self, fd: int | None):
        self.fd = fd  # None: no terminal (a container without -t, pipes)

    @classmethod
    def ours(cls) -> "Terminal":
        """The first of stdin, stdout and stderr that is our controlling terminal."""
        for fd in (0, 1, 2):
            try:
                if os.isatty(fd) and os.tcgetpgrp(fd) > 0:
                    return cls(fd)
            except OSError:
                continue
        return cls(None)

    def foreground(self) -> int | None:
        try:
            return os.tcgetpgrp(self.fd) if self.fd is not None else None
        except OSError:
            return None

    def pass_on(self, pgid: int, holder: int) -> None:
        """Give the foreground to ``pgid`` if ``holder`` has it now (SIGTTOU is blocked, so this
        works from the background too)."""
        if self.fd is not None and self.foreground() == holder:
            try:
                os.tcsetpgrp(self.fd, pgid)
            except OSError:
                pass  # the terminal went away (hung up): nothing to hand over
