"""A tiny horizontal bar chart written as a PNG with the standard library only.

matplotlib and Pillow are not dependencies of this project, and a chart of a handful of
bars does not need them: an RGB canvas, a 3x5 pixel font (upper case, digits, a few
signs) and ``zlib`` are enough.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

RGB = tuple[int, int, int]

WHITE: RGB = (255, 255, 255)
BLACK: RGB = (30, 30, 30)
GREY: RGB = (150, 150, 150)
LIGHT: RGB = (225, 225, 225)
GREEN: RGB = (46, 158, 79)
RED: RGB = (214, 69, 69)

# 3 columns x 5 rows per glyph, top row first.
_FONT: dict[str, str] = {
    "A": "010101111101101", "B": "110101110101110", "C": "011100100100011", "D": "110101101101110",
    "E": "111100110100111", "F": "111100110100100", "G": "011100101101011", "H": "101101111101101",
    "I": "111010010010111", "J": "001001001101010", "K": "101101110101101", "L": "100100100100111",
    "M": "101111111101101", "N": "110101101101101", "O": "010101101101010", "P": "110101110100100",
    "Q": "010101101110011", "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "V": "101101101101010", "W": "101101111111101", "X": "101101010101101",
    "Y": "101101010010010", "Z": "111001010100111",
    "0": "111101101101111", "1": "010110010010111", "2": "110001010100111", "3": "110001010001110",
    "4": "101101111001001", "5": "111100110001110", "6": "011100111101111", "7": "111001010010010",
    "8": "111101111101111", "9": "111101111001110",
    ".": "000000000000010", ",": "000000000010100", "-": "000000111000000", ":": "000010000010000",
    "/": "001001010100100", "(": "010100100100010", ")": "010001001001010", "<": "001010100010001",
    "=": "000111000111000", "+": "000010111010000", "_": "000000000000111", " ": "000000000000000",
}
_SCALE = 2
CHAR_W = 4 * _SCALE  # 3 pixels and a gap
CHAR_H = 5 * _SCALE


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    note: str  # printed after the bar, e.g. "612 MS  2.41X OVER"
    colour: RGB


class Canvas:
    def __init__(self, width: int, height: int, background: RGB = WHITE) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: RGB) -> None:
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        row = bytes(colour) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start:start + len(row)] = row

    def text(self, x: int, y: int, text: str, colour: RGB = BLACK) -> None:
        for i, char in enumerate(text.upper()):
            glyph = _FONT.get(char, _FONT[" "])
            for bit, on in enumerate(glyph):
                if on == "1":
                    gx = x + i * CHAR_W + (bit % 3) * _SCALE
                    gy = y + (bit // 3) * _SCALE
                    self.rect(gx, gy, gx + _SCALE, gy + _SCALE, colour)

    def png(self) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[y * stride:(y + 1) * stride]) for y in range(self.height))
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)  # 8-bit RGB
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                + chunk(b"IEND", b""))


def bar_chart(
    path: Path,
    *,
    title: str,
    bars: list[Bar],
    markers: list[tuple[float, str, RGB]],
    footer: str = "",
) -> None:
    """Horizontal bars, one per row, with vertical marker lines (value, label, colour)."""
    width, row_h, top = 900, 30, 40
    label_w = max(len(b.label) for b in bars) * CHAR_W + 24
    note_w = max(len(b.note) for b in bars) * CHAR_W + 16
    plot_x0, plot_x1 = label_w, width - note_w
    height = top + row_h * len(bars) + 60
    top_value = max([b.value for b in bars] + [m[0] for m in markers]) * 1.05 or 1.0

    def x_of(value: float) -> int:
        return plot_x0 + round((plot_x1 - plot_x0) * value / top_value)

    canvas = Canvas(width, height)
    canvas.text(12, 12, title)
    bottom = top + row_h * len(bars)
    canvas.rect(plot_x0, top - 4, plot_x0 + 1, bottom + 4, GREY)  # axis
    for i, bar in enumerate(bars):
        y = top + i * row_h
        canvas.text(12, y + (row_h - CHAR_H) // 2, bar.label)
        canvas.rect(plot_x0 + 1, y + 5, max(plot_x0 + 2, x_of(bar.value)), y + row_h - 5, bar.colour)
        canvas.text(x_of(bar.value) + 8, y + (row_h - CHAR_H) // 2, bar.note)
    for n, (value, label, colour) in enumerate(markers):
        x = x_of(value)
        for y in range(top - 4, bottom + 4, 8):  # dashed
            canvas.rect(x, y, x + 2, y + 5, colour)
        canvas.text(max(0, x - len(label) * CHAR_W // 2), bottom + 10 + n * (CHAR_H + 6), label, colour)
    if footer:
        canvas.text(12, height - CHAR_H - 8, footer, GREY)
    path.write_bytes(canvas.png())
