"""The frozen binary's start-up budget (docs/performance.md): what the default start imports.

Each module below costs the frozen binary milliseconds at every start; they were cut on
purpose (issue 5). These tests keep them cut, and keep the shortcuts exact.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from entrypoint.values import KNOWN_URLS, parse_url

NOT_ON_THE_DEFAULT_PATH = (
    "http.client", "email", "dataclasses", "inspect", "typing",  # ~25 ms frozen, see the doc
    "re", "urllib.parse", "ipaddress",                            # only for URLs/durations given
    "json", "ctypes",                                             # only for JSON logs / at spawn
)


@pytest.mark.parametrize("url", list(KNOWN_URLS.values()), ids=str)
def test_preset_urls_parsed_ahead_equal_the_parser(url):
    """The --mesh preset URLs skip urllib.parse; they must be exactly what it would give."""
    assert parse_url(" " + url.text + " ") == url  # padded: the lookup misses, the parser runs


def test_the_default_start_imports_none_of_the_cut_modules():
    """Config, readiness, quitting and supervision load without the modules cut for start-up."""
    script = (
        "import sys\n"
        "from entrypoint import cli, config\n"
        "config.load(['--', 'true'], {})\n"
        f"print(' '.join(m for m in {NOT_ON_THE_DEFAULT_PATH!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parent.parent).stdout
    assert loaded.split() == []
