"""The repository explains the code, not the history of how it was written.

No tracked file names the internal teams that once split the work (as words in comments,
docstrings and prose), cites issue numbers, points at documents that are not in the repository
(``../shared/...``, ``contracts*.md``, ``DOMAIN.md``, ``PROTOCOLS.md``: the rules they held are in
docs/business-rules.md and docs/protocols.md), keeps a fallback "until that module exists", or
fences a section with an "end of section" marker. A comment says why; the history is in git.
"""

from __future__ import annotations

import io
import re
import subprocess
import tokenize
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCOPE = ("layers/", "functions/", "tests/", "local/", "tools/", "bench/", "docs/", "README.md", "template.yaml",
         "Makefile")
THIS = Path(__file__).resolve()

TEAMS = ("FULFIL", "PAYOUT", "CATALOG", "REFERRAL", "WITHDRAW", "SETTLEMENT", "ORDERS")
#: A team name as a word: not a key prefix (``PAYOUT#``), a constant (``PAYOUT_QUEUE_URL``) or an
#: attribute (``ExportKind.ORDERS``).
TEAM_WORD = re.compile(r"(?<![#_.\w])(" + "|".join(TEAMS) + r")(?![#_\w])")
ANYWHERE = {
    "issue number": re.compile(r"\b[Ii]ssues?\s+#?\d"),
    "document outside the repository": re.compile(r"\.\./shared|\bcontracts?\d*\.md|\b(DOMAIN|PROTOCOLS)\.md\b"),
    "fallback for a missing module": re.compile(
        r"until (that|the) module exists|mall\.[\w.]+.{0,40}does not exist yet"),
    "section fence": re.compile(r"end of section|\(end of [\w ]+\)\s*-{2,}"),
    "helper name": re.compile(r"\bhelper \"?[a-z]+-[a-z]+"),
}
BACKTICKS = re.compile(r"``.*?``|`[^`\n]*`")


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z", "--", *SCOPE], cwd=ROOT, check=True, capture_output=True)
    paths = [ROOT / name for name in listed.stdout.decode("utf-8").split("\0") if name]
    return [p for p in paths if p.is_file() and p.resolve() != THIS]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError:
        return None  # images, fonts


def python_prose(source: str) -> str:
    """The comments and docstrings of a module: where a team name would be prose, not code."""
    parts: list[str] = []
    previous = tokenize.NEWLINE
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            statement = previous in {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT}
            if token.type == tokenize.COMMENT or (token.type == tokenize.STRING and statement):
                parts.append(token.string)
            if token.type not in {tokenize.COMMENT, tokenize.NL}:
                previous = token.type
    except (tokenize.TokenError, SyntaxError):
        return source
    return "\n".join(parts)


def leftovers(path: Path, text: str) -> list[str]:
    found = [f"{path.relative_to(ROOT)}: {what}: {m.group(0)!r}"
             for what, pattern in ANYWHERE.items() for m in pattern.finditer(text)]
    prose = python_prose(text) if path.suffix == ".py" else text
    found += [f"{path.relative_to(ROOT)}: team name: {m.group(0)!r}"
              for m in TEAM_WORD.finditer(BACKTICKS.sub("", prose))]
    return found


def test_the_scan_sees_the_repository_and_recognises_each_leftover() -> None:
    files = tracked_files()
    assert any(p.name == "template.yaml" for p in files) and len(files) > 300
    leftover = ["# refunds go to FULFIL (issue 4)", '"""CATALOG\'s contract (contracts7.md)."""',
                "# until that module exists", "# ---- (end of payouts) ----", "# see ../shared/DOMAIN.md",
                "# helper \"risk-cases\""]
    legitimate = ['x = ORDERS = CATALOG = "PAYOUT#1"  # PAYOUT_QUEUE_URL, ``ORDERS``, ExportKind.ORDERS']
    found = leftovers(ROOT / "sample.py", "\n".join([*leftover, *legitimate]) + "\n")
    assert len(found) == 9, found
    assert leftovers(ROOT / "sample.py", "\n".join(legitimate) + "\n") == []


@pytest.mark.parametrize("suffixes", [(".py",), (".md", ".yaml", ".yml", ".json", ".txt", ".toml", "")])
def test_no_history_in_tracked_files(suffixes: tuple[str, ...]) -> None:
    found: list[str] = []
    for path in tracked_files():
        if path.suffix not in suffixes:
            continue
        text = text_of(path)
        if text is not None:
            found += leftovers(path, text)
    assert found == []


LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_readme_and_docs_link_only_to_files_in_the_repository() -> None:
    broken: list[str] = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in LINK.findall(page.read_text("utf-8")):
            if re.match(r"^(https?:|mailto:|#)", target):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert broken == []
    assert "docs/business-rules.md" in LINK.findall((ROOT / "README.md").read_text("utf-8"))
