import os

import pytest

from tests.helpers.emulation import emulated
from tests.helpers.fake_sidecar import FakeSidecar
from tests.helpers.fakes import fake_time  # noqa: F401 (a fixture)
from tests.helpers.process import Wrapper

BUILDS = ("python", "binary", "emulated")


def build_under_test() -> str:
    """python: `python -m entrypoint`; binary: SK_TEST_BIN, run natively; emulated: SK_TEST_BIN
    of another architecture, run by qemu-user (tests/helpers/emulation.py)."""
    if not os.environ.get("SK_TEST_BIN"):
        return "python"
    return "emulated" if emulated() else "binary"


def pytest_collection_modifyitems(config, items):
    """Each test runs against the builds its file names (`pytestmark = pytest.mark.builds(...)`),
    as dumb-init's run each case in each mode; an unmarked test runs against python only."""
    build = build_under_test()
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("builds")
        names = marker.args if marker else ("python",)
        assert set(names) <= set(BUILDS), f"{item.nodeid}: unknown build in {names}"
        (kept if build in names else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def sidecar():
    """Factory for fake Istio sidecars on free ports; all closed after the test."""
    started = []

    def make(**kwargs) -> FakeSidecar:
        fake = FakeSidecar(**kwargs).start()
        started.append(fake)
        return fake
    yield make
    for fake in started:
        fake.close()


@pytest.fixture
def wrappers():
    """Factory for wrapper processes; each process tree is killed after the test."""
    started = []

    def make(args, **kwargs) -> Wrapper:
        wrapper = Wrapper(args, **kwargs)
        started.append(wrapper)
        return wrapper
    yield make
    for wrapper in started:
        wrapper.kill_tree()
