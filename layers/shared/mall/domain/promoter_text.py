"""Promoter-facing text (推广员可见文字): one normaliser for the banned-phrase check and for the
rules page's cleaning, and the rule for single-line fields.

A banned phrase must not slip through in a spelling a reader still reads as the phrase. Before
comparing, both the text and every phrase are reduced to the characters a reader reads:

1. Unicode NFKC (full-width ``ｔａｎｇ`` and compatibility forms become the plain ones) and case
   folding;
2. format characters (category Cf: zero-width space and joiners, bidi overrides and isolates,
   soft hyphen) removed;
3. traditional characters folded to simplified with OpenCC (``t2s``, a maintained conversion
   dictionary; 無限代 → 无限代, 躺賺 → 躺赚);
4. only letters and digits kept: whitespace, punctuation and symbols between characters are
   ignored (躺.赚, 躺 赚, 躺★赚 all read as 躺赚).

A bidi override (U+202E) makes a reader see the text backwards, so when a text contains any bidi
control the check also looks for the phrases in the reversed text: ``\\u202e代限无`` displays as
无限代 and is refused as the banned phrase it shows.

Single-line fields (nickname, slogan, promoter title, level names, notification texts) also refuse
control characters (NUL, line breaks, tabs: category Cc, and the line/paragraph separators) and
bidi controls outright: they can reorder or hide what is shown around them and no name needs them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import opencc

#: Bidi embedding, override, isolate and mark characters: they reorder what a reader sees.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
#: Line and paragraph separators (category Zl / Zp): line breaks that are not control characters.
LINE_SEPARATORS = frozenset("\u2028\u2029\u0085")

@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    # Imported and loaded on first use (~40 ms): most functions import the settings module and
    # never check a text.
    import opencc

    return opencc.OpenCC("t2s")


@lru_cache(maxsize=4096)
def _simplified(text: str) -> str:
    return str(_converter().convert(text))


def _readable(text: str) -> list[tuple[str, int]]:
    """The characters a reader reads (steps 1, 2 and 4), each with its index in ``text``."""
    kept: list[tuple[str, int]] = []
    for index, char in enumerate(text):
        if unicodedata.category(char) == "Cf":
            continue
        for part in unicodedata.normalize("NFKC", char).casefold():
            if unicodedata.category(part)[0] in "LN":
                kept.append((part, index))
    return kept


def _folded(text: str) -> list[tuple[str, int]]:
    """``_readable`` with traditional characters folded to simplified (step 3). OpenCC converts
    whole phrases; when that keeps the length (it does for t2s in practice) each character keeps
    its index, else each character is converted on its own."""
    kept = _readable(text)
    joined = "".join(char for char, _ in kept)
    simplified = _simplified(joined)
    if len(simplified) == len(joined):
        return [(char, index) for char, (_, index) in zip(simplified, kept, strict=True)]
    return [(part, index) for char, index in kept for part in _simplified(char)]


@lru_cache(maxsize=4096)
def normalise(text: str) -> str:
    """``text`` as the banned-phrase check compares it (see the module docstring)."""
    return "".join(char for char, _ in _folded(text))


def has_bidi_control(text: str) -> bool:
    return any(char in BIDI_CONTROLS for char in text)


def banned_phrase_in(text: str, phrases: Iterable[str]) -> str | None:
    """The first banned phrase ``text`` shows to a reader, or None."""
    read = normalise(text)
    if not read:
        return None
    backwards = read[::-1] if has_bidi_control(text) else ""
    for phrase in phrases:
        wanted = normalise(phrase)
        if wanted and (wanted in read or (backwards and wanted in backwards)):
            return phrase
    return None


def single_line_problem(text: str) -> str | None:
    """Why ``text`` cannot be a single-line field (control character, line break, bidi control), or None."""
    for char in text:
        if char in BIDI_CONTROLS:
            return f"contains the bidi control U+{ord(char):04X}, which reorders what is shown"
        if char in LINE_SEPARATORS or unicodedata.category(char) == "Cc":
            what = "a line break" if char in "\n\r" or char in LINE_SEPARATORS else "a control character"
            return f"contains {what} (U+{ord(char):04X}); this field is one line of plain text"
    return None


def mask_banned(text: str, phrases: Sequence[str]) -> str:
    """``text`` with format characters removed and every banned phrase a reader would see in it
    replaced by ``*`` (the characters between its letters too): the rules page's cleaning."""
    text = "".join(char for char in text if unicodedata.category(char) != "Cf")
    folded = _folded(text)
    read = "".join(char for char, _ in folded)
    masked = list(text)
    for phrase in sorted({normalise(p) for p in phrases if p}, key=len, reverse=True):
        if not phrase:
            continue
        start = read.find(phrase)
        while start != -1:
            first, last = folded[start][1], folded[start + len(phrase) - 1][1]
            for index in range(first, last + 1):
                masked[index] = "*"
            start = read.find(phrase, start + len(phrase))
    return "".join(masked)
