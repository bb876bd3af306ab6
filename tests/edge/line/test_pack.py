"""Pack association: SSCC passages as parents, the codes seen with them as children."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.line.pack import PackAssociator
from linetrace.edge.line.passage import Passage
from linetrace.edge.line.settings import PackConfig

ICT = timezone(timedelta(hours=7))
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=ICT)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sscc(number: int, start: float, end: float, **extra: object) -> Passage:
    code = f"38938500000000{number:04d}"
    return Passage(
        kind=EventKind.READ,
        first_seen=at(start),
        last_seen=at(end),
        first_mono=start,
        last_mono=end,
        frames=5,
        symbology="Code128",
        symbology_id="]C1",
        text=f"00{code}",
        gs1={"00": code},
        **extra,  # type: ignore[arg-type]
    )


def item(serial: int, start: float, end: float, **extra: object) -> Passage:
    return Passage(
        kind=EventKind.READ,
        first_seen=at(start),
        last_seen=at(end),
        first_mono=start,
        last_mono=end,
        frames=5,
        symbology="DataMatrix",
        symbology_id="]d2",
        text=f"010893850000001821{serial:06d}",
        gs1={"01": "08938500000018", "21": f"{serial:06d}"},
        **extra,  # type: ignore[arg-type]
    )


def run(associator: PackAssociator, passages: list[Passage], end: float) -> list[Passage]:
    """Feed passages in the order the tracker closes them; release at ``end``."""
    out: list[Passage] = []
    for passage in passages:
        out += associator.add(passage)
        out += associator.release_due(passage.last_mono or 0.0)
    return out + associator.release_due(end)


def texts(passage: Passage) -> list[str]:
    return [child.text for child in passage.children or ()]


def test_codes_overlapping_the_sscc_become_its_children_and_stay_reads() -> None:
    associator = PackAssociator(PackConfig(overlap_margin_s=0.2, hold_s=1.0))
    inside = [item(1, 0.1, 0.9), item(2, 0.3, 1.1)]  # 1.1: within the 0.2 s margin
    outside = item(3, 1.5, 2.0)
    out = run(associator, [*inside, sscc(1, 0.0, 1.0), outside], end=5.0)
    [pack] = [p for p in out if p.kind is EventKind.PACK]
    assert texts(pack) == [inside[0].text, inside[1].text]
    assert pack.text == sscc(1, 0, 1).text
    assert pack.gs1 == {"00": "389385000000000001"}
    reads = [p.text for p in out if p.kind is EventKind.READ]
    assert reads == [inside[0].text, inside[1].text, outside.text]
    assert associator.stats.packs == 1
    assert associator.stats.children == 2


def test_a_parent_waits_for_children_that_close_after_it() -> None:
    associator = PackAssociator(PackConfig(overlap_margin_s=0.1, hold_s=1.0))
    assert associator.add(sscc(1, 0.0, 1.0)) == []
    assert associator.release_due(2.0) == []  # 1.0 + 0.1 + 1.0 = 2.1 not reached
    assert associator.add(item(1, 0.5, 1.6)) == [item(1, 0.5, 1.6)]
    [pack] = associator.release_due(2.1)
    assert texts(pack) == [item(1, 0.5, 1.6).text]
    assert associator.waiting == 0


def test_a_child_closing_after_its_parent_went_out_is_counted_late() -> None:
    associator = PackAssociator(PackConfig(overlap_margin_s=0.0, hold_s=0.5))
    associator.add(sscc(1, 0.0, 1.0))
    [alone] = associator.release_due(1.5)
    assert alone.kind is EventKind.READ
    assert alone.children is None
    assert associator.add(item(1, 0.8, 2.0)) == [item(1, 0.8, 2.0)]
    assert associator.stats.late_children == 1


def test_a_child_seen_with_two_cases_goes_to_the_one_it_overlaps_longest() -> None:
    # The hold outlasts the second case's passage, so both parents are known in time.
    associator = PackAssociator(PackConfig(overlap_margin_s=0.0, hold_s=1.5))
    first, second = sscc(1, 0.0, 1.0), sscc(2, 0.8, 2.0)
    shared = item(1, 0.9, 1.8)  # 0.1 s with the first, 0.9 s with the second
    own = item(2, 0.1, 0.7)
    out = run(associator, [own, first, shared, second], end=5.0)
    packs = {p.text: texts(p) for p in out if p.kind is EventKind.PACK}
    assert packs == {first.text: [own.text], second.text: [shared.text]}


def test_regions_keep_side_by_side_cases_apart_when_configured() -> None:
    left, right = (0.0, 0.0, 100.0, 100.0), (400.0, 0.0, 500.0, 100.0)
    children = [item(1, 0.1, 0.9, region=(110.0, 10.0, 150.0, 50.0)), item(2, 0.1, 0.9)]
    spread = item(3, 0.1, 0.9, region=(380.0, 10.0, 420.0, 50.0))
    by_region = PackAssociator(PackConfig(hold_s=0.0, region_margin_px=50.0))
    out = run(by_region, [*children, spread, sscc(1, 0.0, 1.0, region=left)], end=3.0)
    [pack] = [p for p in out if p.kind is EventKind.PACK]
    # The near child and the one without a region join; the one by the other case does not.
    assert texts(pack) == [children[0].text, children[1].text]

    by_time = PackAssociator(PackConfig(hold_s=0.0))  # no region_margin_px: time alone
    out = run(by_time, [*children, spread, sscc(1, 0.0, 1.0, region=right)], end=3.0)
    [pack] = [p for p in out if p.kind is EventKind.PACK]
    assert len(texts(pack)) == 3


def test_no_reads_and_other_ssccs_are_never_children() -> None:
    associator = PackAssociator(PackConfig(hold_s=0.0))
    noread = Passage(kind=EventKind.NOREAD, first_seen=at(0.2), last_seen=at(0.4), frames=3)
    out = run(associator, [noread, sscc(2, 0.1, 0.5), sscc(1, 0.0, 1.0)], end=3.0)
    assert [p.kind for p in out] == [EventKind.NOREAD, EventKind.READ, EventKind.READ]


def test_finish_releases_every_waiting_parent() -> None:
    associator = PackAssociator(PackConfig(hold_s=30.0))
    associator.add(item(1, 0.1, 0.5))
    associator.add(sscc(1, 0.0, 1.0))
    associator.add(sscc(2, 5.0, 6.0))
    assert associator.release_due(7.0) == []
    out = associator.finish()
    assert [(p.kind, len(texts(p))) for p in out] == [(EventKind.PACK, 1), (EventKind.READ, 0)]
    assert associator.waiting == 0
