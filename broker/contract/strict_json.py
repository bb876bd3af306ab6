"""Strict JSON for the contract: only what central can store and serve again.

A station's payload may hold anything a JSON text can; central must keep it and hand it
back through the API and the live page. So the contract refuses, with a reason, what a
JSON reader would choke on later: nesting deep enough to exhaust a recursive reader,
NaN and Infinity, numbers too large for a double, lone surrogates, and unknown fields that
are too deep or too large. Every check here is iterative, so no input can hit a recursion
limit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from linetrace.errors import ContractError

if TYPE_CHECKING:
    from linetrace.broker.contract.messages import ScanEvent

__all__ = [
    "MAX_DOCUMENT_DEPTH",
    "MAX_EXTRA_BYTES",
    "MAX_EXTRA_DEPTH",
    "check_extras",
    "check_strings",
    "finite",
    "nesting_depth",
    "refuse_constant",
]

# Unknown (extra) fields are a newer minor version's additions: small metadata. They are
# kept and served as sent, so they must stay small and shallow. 16 levels is far more than
# any real document nests and far below the recursion limits of the JSON readers that
# serve them again (Python's json, pydantic's reader at 200); 16 KiB leaves most of an
# event's 64 KiB for the fields the contract knows (a no-read's snapshot).
MAX_EXTRA_DEPTH = 16

MAX_EXTRA_BYTES = 16 * 1024

# The contract's own fields nest 4 deep (event > children > child > gs1): a document
# deeper than this has an unknown field deeper than MAX_EXTRA_DEPTH, and is refused
# before a recursive JSON reader sees it.
MAX_DOCUMENT_DEPTH = MAX_EXTRA_DEPTH + 4

# A JSON string (its escapes included), and the brackets outside strings. An unclosed
# string runs to the end of the text, so that the scan stays linear on any input.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\Z)', re.DOTALL)

_BRACKETS = re.compile(r"[\[\]{}]")


def nesting_depth(text: str) -> int:
    """How deep ``text`` nests, without recursion (malformed text gives some number)."""
    if text.count("[") + text.count("{") <= MAX_DOCUMENT_DEPTH:
        return 0  # cannot be too deep: the usual case, decided without a scan
    depth = deepest = 0
    for match in _BRACKETS.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{literal[:40]} is too large for a double")
    return value


def check_strings(document: Any) -> None:
    """Refuse lone surrogates in any key or string (they cannot be encoded as UTF-8)."""
    for value in _walk(document):
        if isinstance(value, str) and not _encodable(value):
            raise ContractError(
                f"payload contains a lone surrogate escape ({_sample(value)}), not valid text"
            )


def check_extras(event: ScanEvent) -> None:
    """Refuse unknown fields that could not be served again: too deep, too large, not JSON."""
    size = 0
    for where, extras in _extras_of(event):
        for name, value in extras.items():
            if _depth_of(value) > MAX_EXTRA_DEPTH:
                raise ContractError(
                    f"unknown field {where}{name} nests deeper than {MAX_EXTRA_DEPTH} levels"
                )
            for item in _walk(value):
                if isinstance(item, float) and not math.isfinite(item):
                    raise ContractError(
                        f"unknown field {where}{name} holds {item}, which is not a JSON number"
                    )
                if isinstance(item, str) and not _encodable(item):
                    raise ContractError(f"unknown field {where}{name} holds a lone surrogate")
            size += len(json.dumps({name: value}, ensure_ascii=False).encode())
    if size > MAX_EXTRA_BYTES:
        raise ContractError(f"unknown fields take {size} bytes, more than {MAX_EXTRA_BYTES}")


def _extras_of(event: ScanEvent) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every model's unknown fields in the event, with where they are."""
    if event.model_extra:
        yield "", event.model_extra
    for name, check in event.checks.items():
        if check.model_extra:
            yield f"checks.{name}.", check.model_extra
    for index, child in enumerate(event.children or []):
        if child.model_extra:
            yield f"children[{index}].", child.model_extra


def _walk(value: Any) -> Iterator[Any]:
    """Every key and value inside ``value``, iteratively (no recursion limit to hit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _depth_of(value: Any) -> int:
    """How many arrays and objects ``value`` nests (0 for a scalar), iteratively."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth) for child in children)
    return deepest


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _sample(text: str) -> str:
    return text[:40].encode("utf-8", "backslashreplace").decode("ascii", "replace")
