import pytest

from tests.helpers.fake_sidecar import FakeSidecar
from tests.helpers.fakes import fake_time  # noqa: F401 (a fixture)
from tests.helpers.process import Wrapper


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
