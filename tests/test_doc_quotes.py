"""Every line the docs quote is one the code can print: each literal run of a quoted log line in
README.md and docs/*.md (values such as URLs, paths, numbers and names taken out, `...` for what
was left out) stands in one of the strings the code writes its lines from; every link between
the docs points at a file and heading that exist."""
import ast
import re
from pathlib import Path

import pytest

from tests.helpers.process import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def code_strings() -> str:
    """Every string in entrypoint/, an f-string also with its fields left out (a field that may
    be empty), and the launcher's C source (its one line of its own)."""
    pieces = [(REPO / "launcher" / "main.c").read_text()]
    for path in (REPO / "entrypoint").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                pieces.append(node.value)
            elif isinstance(node, ast.JoinedStr):
                pieces.append("".join(part.value for part in node.values if isinstance(part, ast.Constant)))
    return "\0".join(pieces)


# A quoted line: a table row's first cell, or a line in a code block, that starts as the log does.
QUOTE = re.compile(r"`((?:sidecar-killer: )?(?:error: |warning: )?(?:\.\.\. )?"
                   r"(?:proxy quit|proxy ready|proxy not ready|could not quit|no proxy|not starting|got SIG|"
                   r"leaving the proxy|cannot run|cannot start|cannot adopt|nothing listens|still waiting|"
                   r"waiting for the proxy|unknown option|quit URL|internal error|app started|app exited|HTTP \d|"
                   r"no answer within|bad HTTP answer)[^`]*)`")
# What a line fills in at run time: URLs, addresses, paths, quoted values, numbers, durations,
# signal and variable names, and `...` where the doc leaves something out.
VALUE = re.compile(r"https?://[^\s,;)]+|\b\d+(?:\.\d+)*(?:s|ms)?\b|\bN\b|'[^']*'|"
                   r"(?<![\w.])/[\w./-]+|\bSIG[A-Z]+\b|\b[A-Z][A-Z0-9_]{3,}\b(?:=\S+)?|\.\.\.|"
                   r"linux/\w+|--[a-z-]+(?:=\S+)?|[()]")


def quotes():
    for doc in DOCS:
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            for quote in QUOTE.findall(line):
                yield pytest.param(quote, id=f"{doc.name}:{number}")


CODE = code_strings()


def in_code(fragment: str) -> bool:
    """In one string of the code, or in two (a line with another's message in a field: "POST
    ...: {answer} after", where the answer says "connection refused")."""
    if fragment in CODE:
        return True
    cuts = [at for at, char in enumerate(fragment) if char == " "]
    return any(len(fragment[:at].strip()) >= 5 and len(fragment[at:].strip()) >= 5
               and fragment[:at].strip() in CODE and fragment[at:].strip() in CODE for at in cuts)


@pytest.mark.parametrize("quote", list(quotes()))
def test_a_quoted_line_is_one_the_code_can_print(quote):
    text = re.sub(r"^(sidecar-killer: )?(error: |warning: )?", "", quote)
    fragments = [part.strip(" ;:,") for part in VALUE.split(text)]
    missing = [part for part in fragments if len(part) >= 6 and not in_code(part)]
    assert not missing, f"no string in entrypoint/ holds {missing} (quoted: {quote!r})"


def test_quotes_are_found():
    assert len(list(quotes())) >= 30, "the quote pattern no longer finds the docs' log lines"


LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(path: Path) -> set:
    """GitHub's anchors for a Markdown file's headings."""
    found = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_link_between_the_docs_resolves(doc):
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # another site: not checked here
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(target)
    assert not broken, f"{doc.name}: links to nothing: {broken}"
