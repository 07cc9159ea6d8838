"""The controlling terminal, when we run in its foreground: the app gets the foreground.

The app runs in a process group of its own, so a signal sent to our group (kill to the group)
reaches it once, through us. A terminal sends its signals (Ctrl-C, Ctrl-\\, Ctrl-Z) to its
foreground group: that becomes the app's, so they too reach it once, from the kernel (tini's
isolate_child does the same).
"""
from __future__ import annotations

import os


class Terminal:
    def __init__(self, fd: int | None):
        self.fd = fd  # None: no terminal of ours (a container without -t, a pipe, the background)

    @classmethod
    def ours(cls) -> "Terminal":
        """The first of stdin, stdout and stderr that is a terminal whose foreground we are."""
        for fd in (0, 1, 2):
            try:
                if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                    return cls(fd)
            except OSError:
                continue
        return cls(None)

    def give(self, pgid: int) -> None:
        """Make ``pgid`` the foreground group (SIGTTOU is blocked, so this works from the background)."""
        if self.fd is not None:
            try:
                os.tcsetpgrp(self.fd, pgid)
            except OSError:
                pass  # the terminal went away (hung up): nothing to hand over

    def is_foreground(self, pgid: int) -> bool:
        try:
            return self.fd is not None and os.tcgetpgrp(self.fd) == pgid
        except OSError:
            return False
