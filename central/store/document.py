"""An event's payload as sent: its JSON text, parsed only when someone reads a field.

The ingest stores every payload whole. Storing the received text, rather than parsing it
and encoding it again, keeps exactly what the station sent and saves both steps on the
hot path: pydantic's reader has already checked the event, and most payloads are never
read as a document on the way in. Where a field is read (the edge's checks, a pack's
children, a conflict's comparison) the text is parsed once, with the same ``json.loads``
that reads stored payloads back, so both sides of a comparison parse alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["SentDocument"]


class SentDocument(Mapping[str, Any]):
    """A read-only JSON object kept as its text; parsed on first access, then cached."""

    __slots__ = ("_parsed", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._parsed: dict[str, Any] | None = None

    def parsed(self) -> dict[str, Any]:
        """The document as a dict (a copy is not made: do not change it)."""
        if self._parsed is None:
            document = json.loads(self.text)
            if not isinstance(document, dict):
                raise ValueError("a sent document is a JSON object")
            self._parsed = document
        return self._parsed

    def __getitem__(self, key: str) -> Any:
        return self.parsed()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.parsed())

    def __len__(self) -> int:
        return len(self.parsed())

    def __repr__(self) -> str:
        return f"SentDocument({self.text[:80]!r})"
