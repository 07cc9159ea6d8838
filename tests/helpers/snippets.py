"""The fenced code blocks of README.md and docs/*.md, by language."""
from __future__ import annotations

import re
from dataclasses import dataclass

from tests.helpers.process import REPO

FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@dataclass
class Snippet:
    path: str
    line: int
    language: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def snippets(*languages: str) -> list:
    found = []
    for path in DOCS:
        text = path.read_text()
        for match in FENCE.finditer(text):
            indent, language, body = match.groups()
            if language in languages:
                body = "\n".join(line[len(indent):] for line in body.splitlines())
                found.append(Snippet(str(path.relative_to(REPO)), text.count("\n", 0, match.start()) + 1,
                                     language, body + "\n"))
    return found
