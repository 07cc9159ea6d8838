"""Every snippet in README.md and docs/ works when pasted: Dockerfile lines carry no trailing
comment (Docker has none), YAML and JSON parse, shell blocks are valid shell. The Dockerfile
snippets are also built and run: tests/docker/test_first_minutes.py."""
import json
import re
import subprocess

import pytest
import yaml

from tests.helpers.process import REPO
from tests.helpers.snippets import snippets

DOCKERFILES = snippets("dockerfile")
# Dockerfile.scratch's header shows the final stage to write, as comment lines ("#   FROM ...").
SCRATCH_EXAMPLE = [line[4:] for line in (REPO / "Dockerfile.scratch").read_text().splitlines()
                   if re.match(r"#   [A-Z]+ ", line)]
INSTRUCTION = re.compile(r"^(FROM|COPY|USER|ENTRYPOINT|CMD|ENV|RUN|WORKDIR|ARG|LABEL|HEALTHCHECK)\b")


def test_there_are_snippets_to_check():
    assert DOCKERFILES and snippets("yaml") and snippets("sh") and SCRATCH_EXAMPLE


@pytest.mark.parametrize("lines", [s.text.splitlines() for s in DOCKERFILES] + [SCRATCH_EXAMPLE],
                         ids=[s.id for s in DOCKERFILES] + ["Dockerfile.scratch header"])
def test_no_dockerfile_line_has_a_trailing_comment(lines):
    """Docker reads `USER 65532:65532   # optional` as a user named "65532   # optional"."""
    for line in lines:
        if INSTRUCTION.match(line):
            assert "#" not in line, f"a trailing comment breaks this line when pasted: {line!r}"


@pytest.mark.parametrize("snippet", snippets("yaml"), ids=lambda s: s.id)
def test_yaml_snippets_parse(snippet):
    assert yaml.safe_load(snippet.text) is not None


@pytest.mark.parametrize("snippet", snippets("json"), ids=lambda s: s.id)
def test_json_snippets_parse(snippet):
    json.loads(snippet.text)


@pytest.mark.parametrize("snippet", snippets("sh"), ids=lambda s: s.id)
def test_shell_snippets_are_valid_shell(snippet):
    result = subprocess.run(["sh", "-n"], input=snippet.text, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
