"""Test app: prints "ready <pid>", then one line per signal it receives:
"<NAME> <monotonic time> <number>".

Exits 0 when it gets the signal named by --exit-on (default SIGTERM), or after --lifetime
seconds.
"""
import argparse
import os
import signal
import sys
import time


def say(line: str) -> None:
    """One write() per line: lines of several apps sharing a pipe never interleave."""
    os.write(1, (line + "\n").encode())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exit-on", default="SIGTERM")
    parser.add_argument("--lifetime", type=float, default=30.0)
    args = parser.parse_args()
    exit_on = getattr(signal, args.exit_on)
    catchable = signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}
    signal.pthread_sigmask(signal.SIG_BLOCK, catchable)  # read them synchronously, like sigwait
    say(f"ready {os.getpid()}")
    deadline = time.monotonic() + args.lifetime
    while True:
        info = signal.sigtimedwait(catchable, max(deadline - time.monotonic(), 0))
        if info is None:
            return 0
        now = time.monotonic()
        try:
            name = signal.Signals(info.si_signo).name
        except ValueError:
            name = f"SIG{info.si_signo}"
        say(f"{name} {now:.6f} {info.si_signo}")
        if info.si_signo == exit_on:
            return 0


if __name__ == "__main__":
    sys.exit(main())
