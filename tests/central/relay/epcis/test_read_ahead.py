"""Reading ahead in a thread gives the blocks in order, raises the fetch's error in the
caller, and stops its thread when the caller stops early."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from linetrace.central.relay.epcis.read_ahead import read_ahead


def _fetcher(blocks: list[list[int]]) -> Any:
    source = iter(blocks)
    return lambda: next(source, [])


def test_blocks_come_in_order_until_an_empty_one() -> None:
    blocks = [[n, n + 1] for n in range(0, 40, 2)]
    assert list(read_ahead(_fetcher(blocks))) == blocks


def test_a_fetch_error_is_raised_in_the_caller_after_the_blocks_before_it() -> None:
    calls = iter([[1], [2]])

    def fetch() -> Sequence[int]:
        found = next(calls, None)
        if found is None:
            raise RuntimeError("connection lost")
        return found

    blocks = read_ahead(fetch)
    assert [next(blocks), next(blocks)] == [[1], [2]]
    with pytest.raises(RuntimeError, match="connection lost"):
        next(blocks)


def test_closing_early_stops_the_thread_before_it_returns() -> None:
    fetched = threading.Event()

    def endless() -> Sequence[int]:
        fetched.set()
        return [1]

    blocks = read_ahead(endless)
    assert next(blocks) == [1]
    assert fetched.wait(timeout=10)
    blocks.close()  # joins the thread: the cursor is free again
    assert not any(t.name == "lot-export-read-ahead" for t in threading.enumerate())
