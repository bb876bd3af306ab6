"""A small packed plant for the search and trace page tests: items read, cased, palletised."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from tests.central.helpers import GTIN
from tests.central.trace_helpers import PALLETISER, after, item, open_batch, pack, sscc, store

CASE = sscc(1)
PALLET = sscc(2)
ITEMS = 30


def unit(serial: int) -> dict[str, str]:
    return {"01": GTIN, "10": "L2611", "21": f"{serial:06d}"}


def packed_plant(engine: Engine) -> None:
    """30 items read at hcm1/L1/pack-1, items 1 and 2 packed in CASE, CASE on PALLET."""
    batch = open_batch(engine)
    store(
        engine,
        *(item(n, f"{n:06d}", after(batch, n)) for n in range(1, ITEMS + 1)),
        pack(1, CASE, [unit(1), unit(2)], after(batch, 40)),
        pack(1, PALLET, [{"00": CASE}], after(batch, 50), station=PALLETISER),
    )
