"""A wait status becomes the exit code a shell would give: the app's own, or 128+N."""
import signal

import pytest

from entrypoint import exitcodes


@pytest.mark.parametrize("code", range(256))
def test_exit_status_is_kept(code):
    assert exitcodes.from_wait_status(code << 8) == code


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGKILL, signal.SIGSEGV, signal.SIGTERM, 64])
def test_signal_death_is_128_plus_n(signum):
    assert exitcodes.from_wait_status(signum) == 128 + signum
