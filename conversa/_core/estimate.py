"""A fast offline token estimator that leans high.

Real counts come later from the API (usage, count_tokens); until then a turn carries
this estimate. It is deliberately pessimistic so a window of estimated turns errs on
the safe side: about one token per 3 characters of prose (real tokenizers give ~4),
one per 2 characters of code or JSON punctuation runs, and one per character outside
Latin scripts; images by the API's own formula, ⌈w/28⌉·⌈h/28⌉, when their size can be
read from the header, else the largest a default-sized image can cost.

`estimate_parts` splits an estimate in four: the *words* (letter and digit runs,
rated at 3 and 2 characters a token on purpose), the *marks* (punctuation and
characters outside ASCII, one token each), the message and block *framing*, and
the *other* tokens (images and PDFs by their formulas, redacted thinking).
`conversa._core.calibrate` learns how a conversation's text counts from the first
three.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from .._values.blocks import (
    Block,
    DocumentBlock,
    ImageBlock,
    RedactedThinkingBlock,
    SearchResultBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from .._values.jsontext import compact_json

__all__ = [
    "Estimate",
    "estimate_blocks",
    "estimate_parts",
    "estimate_text",
    "image_size",
    "image_tokens",
]

#: Framing the API adds around each message and each block (role markers etc.).
MESSAGE_OVERHEAD = 5
BLOCK_OVERHEAD = 3
#: What an image costs when its size cannot be read: the API downscales the long
#: edge to at most 1568 px (2576 on Claude 4.7+), about 1,600 (4,800) tokens.
UNKNOWN_IMAGE_TOKENS = 4800
#: A PDF page is billed as text plus an image of the page.
PDF_PAGE_TOKENS = 3000


# Runs a tokenizer splits on: Latin letters, digits, single punctuation marks,
# and characters outside ASCII (one each); whitespace rides along with a neighbour.
_LETTERS = re.compile(r"[A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")
_MARKS = re.compile(r"[\x80-\U0010ffff]|[^\sA-Za-z0-9]")
#: `estimate_parts` by blocks tuple, oldest first (the entry holds the tuple, so
#: its id stays its own): a turn's blocks never change, and its copies share them.
#: An OrderedDict: a dict's first key, after many deletions at its front, costs a
#: scan over the deleted slots (about 1 µs here); `popitem(last=False)` does not.
_PARTS: OrderedDict[int, tuple[tuple[Block, ...], Estimate]] = OrderedDict()
_PARTS_KEPT = 4096


class Estimate(NamedTuple):
    """An estimate in parts (see the module docstring); they sum to the estimate."""

    words: int
    marks: int
    framing: int = 0
    other: int = 0


#: ASCII text by the class of each character: a letter, a digit, whitespace (what
#: ``\s`` matches in ASCII) or a mark; the translation `_text_parts` runs on.
_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
_ASCII_CLASSES = (
    bytes(
        ord("a")
        if chr(b).isalpha()
        else ord("0")
        if chr(b).isdigit()
        else ord(" ")
        if chr(b) in _ASCII_SPACE
        else ord(".")
        for b in range(128)
    )
    + b"." * 128
)


def _text_parts(text: str) -> Estimate:
    if not text.isascii():
        return _text_parts_regex(text)
    # The same counts as the regular expressions, several times as fast (a
    # turn's estimate is on every add's path): each character becomes its
    # class, and the runs of letters and of digits are the words (`_runs`).
    classes = text.encode("ascii").translate(_ASCII_CLASSES)
    words = _runs(classes, b"a", 3)
    if b"0" in classes:
        words += _runs(classes, b"0", 2)
    return Estimate(words, classes.count(b"."))


def _runs(line: bytes, mark: bytes, per: int) -> int:
    """The sum of ceil(n / *per*) over the runs of *mark* in *line*, *per* 2 or 3.

    Deleting every *per* marks in a row (left to right) leaves each run of n
    with its n % per leftover marks, still between the bytes that ended it: the
    bytes deleted are *per* times the sum of n // per, and the runs with a
    leftover are its marks less its pairs of marks (a leftover is one or two
    long). A few passes in C over the line, whatever the runs' lengths.
    """
    left = line.replace(mark * per, b"")
    leftovers = left.count(mark)
    if per == 3:
        leftovers -= left.count(mark * 2)
    return (len(line) - len(left)) // per + leftovers


def _text_parts_regex(text: str) -> Estimate:
    """`_text_parts` for any text: the definition the ASCII way must match."""
    words = sum([(len(run) + 2) // 3 for run in _LETTERS.findall(text)])
    words += sum([(len(run) + 1) // 2 for run in _DIGITS.findall(text)])
    return Estimate(words, len(_MARKS.findall(text)))


def estimate_text(text: str) -> int:
    """Estimate the tokens of *text*, leaning high.

    A run of letters costs one token per 3 letters (real tokenizers average about
    4 characters per token on English), a run of digits one per 2 digits (they take
    up to 3), every punctuation mark one, and every character outside ASCII one
    (CJK text is about one token per character; accented Latin is cheaper).
    """
    return sum(_text_parts(text))


def _b64_head(data: str, n: int = 64) -> bytes:
    try:
        return base64.b64decode(data[: (n // 3) * 4 + 4], validate=False)
    except (binascii.Error, ValueError):
        return b""


def image_size(source: Mapping[str, Any]) -> tuple[int, int] | None:
    """Read (width, height) from a base64 PNG, GIF, JPEG or WebP source, if possible."""
    if source.get("type") != "base64" or not isinstance(source.get("data"), str):
        return None
    data: str = source["data"]
    head = _b64_head(data)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        w, h = struct.unpack(">II", head[16:24])
        return int(w), int(h)
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        w, h = struct.unpack("<HH", head[6:10])
        return int(w), int(h)
    if head[:2] == b"\xff\xd8":
        # The frame header usually sits in the first 64 KB; large metadata can
        # push it further, and then the whole image is read.
        found = _jpeg_size(_b64_head(data, 1 << 16))
        if found is None and len(data) > 4 * ((1 << 16) // 3):
            found = _jpeg_size(_b64_head(data, len(data)))
        return found
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_size(head)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    """Read a WebP's size from its first chunk: VP8X, VP8L (lossless) or VP8 (lossy)."""
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(head[26:28], "little") & 0x3FFF
        height = int.from_bytes(head[28:30], "little") & 0x3FFF
        return width, height
    return None


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(raw):
        if raw[i] != 0xFF:
            return None
        marker = raw[i + 1]
        length = int.from_bytes(raw[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", raw[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


def image_tokens(source: Mapping[str, Any], *, max_edge: int = 1568) -> int:
    """Estimate an image's tokens by the API's formula, after its downscaling."""
    size = image_size(source)
    if size is None:
        return UNKNOWN_IMAGE_TOKENS
    w, h = size
    scale = min(1.0, max_edge / max(w, h, 1))
    w, h = max(1, round(w * scale)), max(1, round(h * scale))
    return math.ceil(w / 28) * math.ceil(h / 28)


def _json_parts(value: Any) -> Estimate:
    return _text_parts(compact_json(value))


def _plus(*parts: Estimate) -> Estimate:
    return Estimate(*(sum(column) for column in zip(*parts, strict=True)))


def _block(block: Block) -> Estimate:
    match block:
        case TextBlock(text=text):
            return _text_parts(text)
        case ThinkingBlock(thinking=thinking):
            return _text_parts(thinking)
        # Ids are tokens too: leaving them out made tool turns estimate low.
        case ToolUseBlock(id=tool_id, name=name, input=tool_input):
            return _plus(
                _text_parts(tool_id), _text_parts(name), _json_parts(tool_input)
            )
        case ToolResultBlock(tool_use_id=tool_id, content=content):
            if isinstance(content, str):
                return _plus(_text_parts(tool_id), _text_parts(content))
            return _plus(_text_parts(tool_id), estimate_parts(content or ()))
        case ImageBlock(source=source):
            return Estimate(0, 0, 0, image_tokens(source))
        case DocumentBlock(source=source):
            if source.get("type") in ("text", "content"):
                return _json_parts(source)
            # A base64 PDF: about 3/4 byte per base64 char, ~3 KB a page at least.
            data = source.get("data")
            pages = max(1, len(data) * 3 // 4 // 3000) if isinstance(data, str) else 1
            return Estimate(0, 0, 0, pages * PDF_PAGE_TOKENS)
        case SearchResultBlock(title=title, content=content):
            return _plus(_text_parts(title), estimate_parts(content))
        case RedactedThinkingBlock(data=data):
            return Estimate(0, 0, 0, len(data) // 4)
        case _:  # RawBlock: a kind conversa does not model, sized by its JSON
            return _json_parts(block.to_api())


def estimate_parts(blocks: Iterable[Block]) -> Estimate:
    """Estimate a turn's blocks in parts: words, marks, framing and the other tokens.

    A tuple of blocks (a turn's) is estimated once while it is among the last
    `_PARTS_KEPT` estimated.
    """
    if not isinstance(blocks, tuple):
        return _estimate_parts(blocks)
    hit = _PARTS.get(id(blocks))
    if hit is not None and hit[0] is blocks:
        return hit[1]
    parts = _estimate_parts(blocks)
    if len(_PARTS) >= _PARTS_KEPT:
        # Not `contextlib.suppress`: a context manager made on every estimate.
        try:  # noqa: SIM105
            _PARTS.popitem(last=False)
        except KeyError:  # another thread emptied it first
            pass
    _PARTS[id(blocks)] = (blocks, parts)
    return parts


def _estimate_parts(blocks: Iterable[Block]) -> Estimate:
    words, marks, framing, other = 0, 0, MESSAGE_OVERHEAD, 0
    for block in blocks:
        part = _block(block)
        words += part.words
        marks += part.marks
        framing += BLOCK_OVERHEAD + part.framing
        other += part.other
    return Estimate(words, marks, framing, other)


def estimate_blocks(blocks: Iterable[Block]) -> int:
    """Estimate the tokens of a turn's blocks, framing included."""
    return sum(estimate_parts(blocks))
