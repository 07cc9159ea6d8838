"""docs/logging.md lists every event the code logs, and no other."""
import re

from tests.helpers.process import REPO

# A log call with its event, or an event carried to one as data (event="...").
CALL = re.compile(r"(?:\.(?:info|warning|error|debug)\(\s*|\bevent=)\"([a-z_]+)\"")


def test_every_logged_event_is_documented_and_every_documented_one_is_logged():
    logged = {name for path in (REPO / "entrypoint").glob("*.py") for name in CALL.findall(path.read_text())}
    table = (REPO / "docs" / "logging.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))
    assert logged, "no log calls found: the pattern no longer matches the code"
    assert logged - documented == set(), "logged but not in docs/logging.md"
    assert documented - logged == set(), "in docs/logging.md but never logged"
