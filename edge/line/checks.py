"""Batch checks: does this read belong to the batch the line is packing, and is it in date?

A wrong label on the line (last batch's roll left in the printer, a mixed-up product) is
the mistake a traceability system exists to catch while it can still be fixed, so every
read is held against central's current :class:`BatchAnnouncement`:

* ``batch_gtin``: the code's GTIN (AI 01, or AI 02 on a logistic label) is the batch's;
* ``batch_lot``: the code's lot (AI 10) is the batch's, where the code carries a lot;
* ``expiry``: the code's expiry date (AI 17) has not passed on the day it was seen
  (a product may still be packed on its expiry date itself). This one needs no batch.

A check is only made where the code carries the data it needs: an EAN-13 has no lot, an
SSCC label without AI 02 names no product. A read that fails is still an event (central
needs it as evidence); these functions only say what failed and why. Pure functions:
the caller decides where the batch and the observation date come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from biip import ParseError
from biip.gs1_element_strings import GS1ElementString

from linetrace.broker.contract.messages import BatchAnnouncement, CheckResult

__all__ = [
    "CHECK_BATCH_GTIN",
    "CHECK_BATCH_LOT",
    "CHECK_EXPIRY",
    "batch_checks",
    "check_expiry",
    "check_gtin",
    "check_lot",
    "failed",
]

CHECK_BATCH_GTIN = "batch_gtin"
CHECK_BATCH_LOT = "batch_lot"
CHECK_EXPIRY = "expiry"

# The AIs that name the product: 01 on a trade item, 02 (content) on a logistic label.
_PRODUCT_AIS = ("01", "02")


def batch_checks(
    gs1: Mapping[str, str] | None, batch: BatchAnnouncement | None, observed_on: date
) -> dict[str, CheckResult]:
    """Every batch check that applies to a code with ``gs1``, by name.

    ``batch`` is None when no batch is announced: then only the expiry is checked.
    """
    if gs1 is None:
        return {}
    results: dict[str, CheckResult] = {}
    if batch is not None:
        for name, result in (
            (CHECK_BATCH_GTIN, check_gtin(gs1, batch)),
            (CHECK_BATCH_LOT, check_lot(gs1, batch)),
        ):
            if result is not None:
                results[name] = result
    expiry = check_expiry(gs1, observed_on)
    if expiry is not None:
        results[CHECK_EXPIRY] = expiry
    return results


def check_gtin(gs1: Mapping[str, str], batch: BatchAnnouncement) -> CheckResult | None:
    """The code's product is the batch's; None when the code names no product."""
    for ai in _PRODUCT_AIS:
        gtin = gs1.get(ai)
        if gtin is None:
            continue
        if gtin == batch.gtin:
            return CheckResult(passed=True)
        return CheckResult(
            passed=False,
            detail=f"GTIN ({ai}) {gtin} is not batch {batch.batch_id}'s GTIN {batch.gtin}",
        )
    return None


def check_lot(gs1: Mapping[str, str], batch: BatchAnnouncement) -> CheckResult | None:
    """The code's lot is the batch's; None when the code carries no lot."""
    lot = gs1.get("10")
    if lot is None:
        return None
    if lot == batch.lot:
        return CheckResult(passed=True)
    return CheckResult(
        passed=False, detail=f"lot (10) {lot} is not batch {batch.batch_id}'s lot {batch.lot}"
    )


def check_expiry(gs1: Mapping[str, str], observed_on: date) -> CheckResult | None:
    """The expiry date (AI 17) is not before ``observed_on``; None without AI 17.

    The date is read by biip, which applies the GS1 rules for the century and for a
    day of ``00`` (the last day of the month).
    """
    value = gs1.get("17")
    if value is None:
        return None
    try:
        expiry = GS1ElementString.extract(f"17{value}").date
    except ParseError as exc:
        return CheckResult(passed=False, detail=f"expiry (17) {value!r} is not a date: {exc}")
    if expiry is None:
        return CheckResult(passed=False, detail=f"expiry (17) {value!r} is not a date")
    if expiry < observed_on:
        return CheckResult(
            passed=False,
            detail=f"expired on {expiry.isoformat()}, seen on {observed_on.isoformat()}",
        )
    return CheckResult(passed=True)


def failed(checks: Mapping[str, CheckResult]) -> list[str]:
    """The failed checks among ``checks``, as ``name: detail`` for a log line."""
    return [f"{name}: {result.detail}" for name, result in checks.items() if not result.passed]
