"""Stay with the app once it runs: forward signals, reap every zombie, return its wait status."""
import gc
import posix as os  # the C module: os.py brings os.path, stat and _collections_abc
import _signal as signal  # the C module: signal.py brings enum

from entrypoint import exitcodes, libc, signals, waiting
from entrypoint.terminal import Terminal


def become_subreaper() -> bool:
    """Adopt orphans of the app, so we reap them: when we are not PID 1, nobody else would."""
    return libc.set_child_subreaper()


# Start-up's memory is given back once the app has run this long: a job that is over by then
# (and an app's own start, under a small CPU limit) never pays for it.
RELEASE_AFTER = 0.1


def release_startup_memory() -> None:
    """Hand back what start-up alone needed (freed heap, the binary's code and bytecode pages)
    while the app runs (docs/performance.md)."""
    # What start-up made lives as long as we do: set it aside rather than walk it (a collection
    # costs ~1 ms of CPU and frees next to nothing), then collect what the supervisor makes.
    gc.freeze()
    gc.enable()  # the static binary starts with it off (launcher/main.c)
    libc.give_back_startup_pages()


class Supervisor:
    """tini's loop: forward each signal once, reap whatever exited, until the app itself has.

    Job control as under a shell: a stop signal sent to us (TSTP, TTIN, TTOU) is forwarded and
    then stops us too; an app stopped from its terminal stops us too, so the shell sees the job
    stop; SIGCONT resumes us, is forwarded, and gives the terminal back to the app.
    """

    def __init__(self, pid: int, signal_group: bool, log, terminal: Terminal = Terminal(None),
                 poll: float = 1.0):
        self.pid = pid
        self.signal_group = signal_group
        self.log = log
        self.terminal = terminal
        self.poll = poll  # reap at least this often even if SIGCHLD was coalesced away

    def forward(self, signum: int) -> None:
        target = f"process group {self.pid}" if self.signal_group else f"pid {self.pid}"
        self.log.debug("signal_forwarded", f"forwarding {signals.name(signum)} to {target}",
                       signal=signals.name(signum))
        try:
            if self.signal_group:
                os.killpg(self.pid, signum)
            else:
                os.kill(self.pid, signum)
        except ProcessLookupError:
            pass  # already gone: its exit status is on its way

    def handle(self, signum: int) -> None:
        if signum == signal.SIGCHLD:
            return
        if signum == signal.SIGCONT:  # `fg` gave us the terminal: pass it on; `bg` did not
            self.terminal.pass_on(self.pid, os.getpgrp())
        self.forward(signum)
        if signum in signals.JOB_STOP:
            signals.stop_self()

    def app_stopped(self, stopsig: int) -> None:
        """The app stopped. From its terminal (Ctrl-Z, or reading it from the background): stop
        with it, so the shell sees the job stop. But if the terminal is ours or its already
        (the job was brought to the foreground before we saw the stop), or a SIGCONT is on
        its way: the job goes on, so the app gets the terminal and goes on too."""
        if self.terminal.fd is None or stopsig not in signals.JOB_STOP:
            return  # a SIGSTOP, or no terminal: not a job-control stop of ours to follow
        if signal.SIGCONT in signal.sigpending():
            return  # continued already: handling that CONT passes the terminal on and resumes it
        if stopsig != signal.SIGTSTP and self.terminal.foreground() in (self.pid, os.getpgrp()):
            self.terminal.pass_on(self.pid, os.getpgrp())
            os.killpg(self.pid, signal.SIGCONT)
            return
        signals.stop_self()

    def reap(self) -> int | None:
        """Collect every exited child; the app's wait status once it is among them."""
        app_status = None
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG | os.WUNTRACED)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if os.WIFSTOPPED(status):
                if pid == self.pid:
                    self.app_stopped(os.WSTOPSIG(status))
            elif pid == self.pid:
                app_status = status
            else:
                self.log.debug("orphan_reaped", f"reaped orphan pid {pid}", pid=pid)
        return app_status

    def run(self) -> int:
        release = waiting.Deadline.after(RELEASE_AFTER)
        try:
            while True:
                signum = waiting.next_signal(waiting.Deadline.after(self.poll) if release is None
                                             else release.within(self.poll))
                if signum is not None:
                    self.handle(signum)
                status = self.reap()
                if status is not None:
                    return status
                if release is not None and release.expired():
                    release_startup_memory()
                    release = None
        finally:
            self.terminal.pass_on(os.getpgrp(), self.pid)


def wait_for(pid: int) -> int:
    """The app's wait status, the plainest way: the supervisor's last resort. Already collected
    (its status lost): the wait status of an exit with 70, never a success."""
    while True:
        try:
            waited, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return exitcodes.SOFTWARE << 8
        if waited == pid and not os.WIFSTOPPED(status):
            return status
