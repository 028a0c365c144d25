"""A sync answer kept on disk and read one cylinder state at a time.

A full sync of a large enterprise's station is tens of megabytes of JSON (85,000 states
are ~60 MB, ~130 MiB once parsed whole). The client writes the answer to a file as it
arrives (``LedgerClient.sync``); ``SyncFile.check`` reads the file through once, outside
the station's lock, and keeps everything but the states (a few kilobytes); the states are
read again, one at a time, while the cache stores them (``SyncFile.state_rows``). A file cut
short or not JSON is refused by the first reading, before the cache is touched.

The document is read by ``json``'s own decoder, value by value, from a text buffer of a
few chunks; the only assumption about its shape is the contract's (DESIGN §5): an object
whose ``cylinders`` member is an array of state objects, each with its ``code``.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

CHUNK = 64 * 1024  # bytes read at a time (doubled while one value outgrows the buffer)
_SPACE = re.compile(r"[ \t\n\r]*")
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")
_STATES = "cylinders"


class _Values:
    """JSON values and punctuation read one after another from a binary file (UTF-8)."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.utf8 = codecs.getincrementaldecoder("utf-8-sig")()  # a BOM, as json.loads takes
        self.decoder = json.JSONDecoder()
        self.text = ""
        self.pos = 0
        self.ended = False

    def _more(self, size: int) -> bool:
        """Read ``size`` more bytes into the buffer (dropping what was read); False at the end."""
        if self.ended:
            return False
        data = self.file.read(size)
        self.ended = not data
        self.text = self.text[self.pos :] + self.utf8.decode(data, final=self.ended)
        self.pos = 0
        return not self.ended

    def peek(self) -> str:
        """The next character that is not white space, not consumed; "" at the end."""
        while True:
            self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self._more(CHUNK):
                return ""

    def expect(self, char: str) -> None:
        """Consume ``char`` (after white space), or refuse the document."""
        found = self.peek()
        if found != char:
            raise ValueError(f"sync answer: {char!r} expected, {found or 'the end'!r} found")
        self.pos += 1

    def next_is(self, char: str) -> bool:
        """Consume ``char`` if it comes next."""
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def value(self) -> Any:
        """The next whole JSON value."""
        return self.value_and_text()[0]

    def value_and_text(self) -> tuple[Any, str]:
        """The next whole JSON value and its text. A value the buffer holds only part of is
        decoded again with more text, twice as much each time (~2× its length at most); a
        value that is wrong before the buffer's end is refused at once, never read whole."""
        self.peek()
        size = CHUNK
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                if self._cut_short(exc) and self._more(size):
                    size *= 2
                    continue
                raise ValueError(f"sync answer is not JSON: {exc.msg}") from None
            if self._number_may_go_on(value, end) and self._more(size):
                size *= 2
                continue
            text, self.pos = self.text[self.pos : end], end
            return value, text

    def _cut_short(self, error: json.JSONDecodeError) -> bool:
        """Whether the decoder failed for want of text: at the buffer's end (an escape is
        six characters at most), or in a string it never saw closed."""
        return error.pos >= len(self.text) - 6 or error.msg.startswith("Unterminated string")

    def _number_may_go_on(self, value: Any, end: int) -> bool:
        """A number decoded up to the buffer's end, or up to a ``.``, ``e`` or sign the
        rest of the buffer could complete (``1`` of ``1.5e3``), may have more digits."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return _NUMBER_TAIL.fullmatch(self.text, end) is not None


def _members(file: IO[bytes]) -> Iterator[tuple[str, Any]]:
    """The document's members in order, except that each cylinder state comes as its own
    ``("cylinders", (state, its JSON text))`` pair; a document that ends early or goes on
    is refused."""
    values = _Values(file)
    values.expect("{")
    seen: set[str] = set()
    if not values.next_is("}"):
        while True:
            key = values.value()
            if not isinstance(key, str) or key in seen:
                raise ValueError(f"sync answer: member name {key!r} repeated or not a name")
            seen.add(key)
            values.expect(":")
            if key == _STATES:
                yield from ((_STATES, state) for state in _array(values))
            else:
                yield key, values.value()
            if not values.next_is(","):
                values.expect("}")
                break
    if values.peek():
        raise ValueError("sync answer: text after the document")


def _array(values: _Values) -> Iterator[tuple[Any, str]]:
    values.expect("[")
    if values.next_is("]"):
        return
    while True:
        yield values.value_and_text()
        if not values.next_is(","):
            values.expect("]")
            return


@dataclass(frozen=True)
class SyncFile:
    """A sync answer on disk, read through once: its members but the states in ``rest``."""

    file: IO[bytes]
    rest: dict[str, Any]
    states: int

    @classmethod
    def check(cls, file: IO[bytes]) -> SyncFile:
        """Read the whole answer: refused (ValueError) unless it is one JSON object whose
        ``cylinders`` are objects with a ``code``; only the other members are kept."""
        file.seek(0)
        rest: dict[str, Any] = {}
        states = 0
        for key, value in _members(file):
            if key != _STATES:
                rest[key] = value
            elif isinstance(value[0], dict) and isinstance(value[0].get("code"), str):
                states += 1
            else:
                raise ValueError(f"sync answer: cylinder state {states + 1} has no code")
        return cls(file, rest, states)

    def state_rows(self) -> Iterator[tuple[str, str]]:
        """The states as (code, JSON text as sent), read again from the file one at a time
        (the text is stored as it is: no second encoding)."""
        self.file.seek(0)
        for key, value in _members(self.file):
            if key == _STATES:
                state, text = value
                yield state["code"], text
