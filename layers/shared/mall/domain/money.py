"""Integer fen written as yuan (元), in the few shapes the mall shows them. Integer arithmetic only.

| function           | 123456       | 5000      | −123      | used for                                     |
|--------------------|--------------|-----------|-----------|----------------------------------------------|
| ``yuan``           | ¥1,234.56    | ¥50.00    | -¥1.23    | messages, error texts, poster prices         |
| ``yuan_compact``   | ¥1,234.56    | ¥50       | -¥1.23    | ``GET /rules`` (no needless decimals)        |
| ``yuan_ungrouped`` | ¥1234.56     | ¥50.00    | -¥1.23    | WeChat template values (no separators)       |
| ``yuan_decimal``   | 1234.56      | 50.00     | -1.23     | CSV cells and numbers beside a ¥ of the text |
"""

from __future__ import annotations


def _split(fen: int) -> tuple[str, int, int]:
    whole, rest = divmod(abs(fen), 100)
    return ("-" if fen < 0 else ""), whole, rest


def yuan(fen: int) -> str:
    """``123456`` → ``¥1,234.56``; ``5000`` → ``¥50.00``; ``-123`` → ``-¥1.23``."""
    sign, whole, rest = _split(fen)
    return f"{sign}¥{whole:,}.{rest:02d}"


def yuan_compact(fen: int) -> str:
    """Without needless decimals: ``5000`` → ``¥50``, ``150050`` → ``¥1,500.50``."""
    sign, whole, rest = _split(fen)
    return f"{sign}¥{whole:,}" if rest == 0 else f"{sign}¥{whole:,}.{rest:02d}"


def yuan_ungrouped(fen: int) -> str:
    """Without thousands separators: ``123456`` → ``¥1234.56``, ``-123`` → ``-¥1.23``."""
    sign, whole, rest = _split(fen)
    return f"{sign}¥{whole}.{rest:02d}"


def yuan_decimal(fen: int) -> str:
    """The bare number with two decimals: ``123456`` → ``1234.56``, ``-123`` → ``-1.23``."""
    sign, whole, rest = _split(fen)
    return f"{sign}{whole}.{rest:02d}"
