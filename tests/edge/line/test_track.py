"""The trackers: one passage per item by code, time and place; located regions followed
along the belt to tell read labels from no-reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import cv2
import numpy as np
import pytest

from linetrace.edge.line.region_track import MIN_NOREAD_AREA, RegionTrack, shifted
from linetrace.edge.line.regions import CODE_DENSITY, RegionTracker
from linetrace.edge.line.track import PassageTracker, Track
from linetrace.edge.vision.decode import Symbol
from linetrace.edge.vision.locate import Region
from linetrace.edge.vision.reading import Sighting
from tests.edge.barcodes import START, Image, symbol

FPS = 30.0
WINDOW = 0.5


def run(frames: list[list[Symbol]], *, window: float = WINDOW, fps: float = FPS) -> list[Track]:
    """Feed one list of symbols per frame; every passage, in the order they closed."""
    tracker = PassageTracker(window)
    closed: list[Track] = []
    for index, symbols in enumerate(frames):
        mono = index / fps
        closed += tracker.observe(index, mono, START + timedelta(seconds=mono), symbols)
    return closed + tracker.finish()


def texts(tracks: list[Track]) -> list[str]:
    return [track.symbol.text for track in tracks]


def test_consecutive_frames_are_one_passage_with_times_and_frame_count() -> None:
    tracks = run([[symbol("A")]] * 10)

    assert len(tracks) == 1
    passage = tracks[0]
    assert passage.frames == 10
    assert passage.first_seen == START
    assert passage.last_seen == START + timedelta(seconds=9 / FPS)


def test_a_gap_shorter_than_the_window_is_one_passage() -> None:
    gap = int(WINDOW * FPS) - 2  # 13 empty frames: 0.47 s
    tracks = run([[symbol("A")]] * 3 + [[]] * gap + [[symbol("A")]] * 3)

    assert [t.frames for t in tracks] == [6]


def test_a_gap_longer_than_the_window_is_two_passages() -> None:
    gap = int(WINDOW * FPS) + 2  # 17 empty frames: 0.6 s
    tracks = run([[symbol("A")]] * 3 + [[]] * gap + [[symbol("A")]] * 3)

    assert [t.frames for t in tracks] == [3, 3]
    assert tracks[1].first_seen - tracks[0].last_seen > timedelta(seconds=WINDOW)


def test_a_passage_closes_once_its_code_is_absent_longer_than_the_window() -> None:
    tracker = PassageTracker(WINDOW)
    closed_at = None
    for index in range(40):
        mono = index / FPS
        symbols = [symbol("A")] if index < 5 else []
        if tracker.observe(index, mono, START, symbols):
            closed_at = index
            break

    assert closed_at is not None
    assert (closed_at - 4) / FPS > WINDOW  # absent for longer than the window
    assert (closed_at - 5) / FPS <= WINDOW  # and closed at the first frame that was
    assert tracker.open_count == 0


def test_consecutive_frames_join_even_when_further_apart_than_the_window() -> None:
    # A folder of stills at one image per second: consecutive images of a code are one.
    tracks = run([[symbol("A")]] * 3 + [[]] + [[symbol("A")]], fps=1.0)

    assert [t.frames for t in tracks] == [3, 1]


def test_several_codes_in_a_frame_are_separate_passages() -> None:
    frames = [[symbol("A", 50), symbol("B", 150), symbol("C", 250)]] * 5 + [[symbol("B", 150)]] * 5
    tracks = run(frames)

    assert sorted(texts(tracks)) == ["A", "B", "C"]
    assert {t.symbol.text: t.frames for t in tracks} == {"A": 5, "B": 10, "C": 5}


def test_same_text_in_another_symbology_is_another_code() -> None:
    qr = symbol("A", 300, symbology="QRCode", symbology_id="]Q1")
    tracks = run([[symbol("A", 100), qr]] * 3)

    assert sorted(t.symbol.symbology for t in tracks) == ["DataMatrix", "QRCode"]


def test_one_code_on_two_items_in_view_is_two_passages() -> None:
    # Two cans of one product, with the same EAN-13, side by side on the belt.
    frames = [[symbol("5901234123457", 100 + 5 * i), symbol("5901234123457", 300 + 5 * i)]
              for i in range(10)]  # fmt: skip
    tracks = run(frames)

    assert [t.frames for t in tracks] == [10, 10]


def test_the_next_item_with_the_same_code_entering_is_a_new_passage() -> None:
    # Item 1 moves right and leaves at x=400; item 2 enters at x=20 while 1 is in view.
    step = 10
    frames = []
    for i in range(40):
        symbols = []
        if i < 30:
            symbols.append(symbol("EAN", 100 + step * i))
        if i >= 25:
            symbols.append(symbol("EAN", 20 + step * (i - 25)))
        frames.append(symbols)
    tracks = run(frames)

    assert [t.frames for t in tracks] == [30, 15]
    assert tracks[1].first_seen == START + timedelta(seconds=25 / FPS)


def test_a_moving_symbol_is_followed_through_a_dropout_by_its_velocity() -> None:
    # 12 px per frame, then 10 frames unread: it reappears 3 sizes from where it was
    # last seen, but where its motion says it must be.
    frames = [[symbol("A", 50 + 12 * i)] if not 10 <= i < 20 else [] for i in range(30)]
    tracks = run(frames)

    assert [t.frames for t in tracks] == [20]


def test_a_stationary_symbol_read_twice_in_a_frame_counts_once() -> None:
    tracks = run([[symbol("A", 100), symbol("A", 102)]] * 4)

    assert [t.frames for t in tracks] == [4]


def test_a_misread_at_the_spot_of_a_code_read_more_often_is_outvoted() -> None:
    frames = [[symbol("REAL", 100 + 4 * i)] for i in range(20)]
    for i in (8, 9, 10):
        frames[i] = [symbol("MISREAD", 100 + 4 * i)]
    tracks = run(frames)

    by_text = {t.symbol.text: t for t in tracks}
    assert by_text["MISREAD"].outvoted
    assert not by_text["REAL"].outvoted
    assert by_text["REAL"].frames == 17


def test_different_codes_at_different_places_are_not_rivals() -> None:
    tracks = run([[symbol("A", 100), symbol("B", 300)]] * 3 + [[symbol("A", 100)]] * 5)

    assert not any(t.outvoted for t in tracks)
    assert all(t.rivals == [] for t in tracks)


def test_finish_closes_everything_oldest_first() -> None:
    tracker = PassageTracker(WINDOW)
    tracker.observe(0, 0.0, START, [symbol("B", 300)])
    tracker.observe(1, 1 / FPS, START, [symbol("B", 300), symbol("A", 100)])

    assert tracker.open_count == 2
    assert texts(tracker.finish()) == ["B", "A"]
    assert tracker.open_count == 0
    assert tracker.finish() == []


def test_a_passage_keeps_the_most_error_correction_a_decode_spent() -> None:
    reads = [
        replace(symbol("A", 100 + 5 * i), ec_used=use) for i, use in enumerate((0.1, 0.4, 0.2))
    ]
    tracker = PassageTracker(WINDOW)
    for index, read in enumerate(reads):
        tracker.observe(index, index / FPS, START, [read])
    # A carried sighting is no decode: whatever it says about error correction is old.
    carried = replace(symbol("A", 115), ec_used=0.9)
    tracker.observe(3, 3 / FPS, START, [], [carried])
    (track,) = tracker.finish()
    assert track.ec_used == 0.4
    assert track.frames == 4


def test_a_passage_of_linear_reads_has_no_error_correction_figure() -> None:
    (track,) = run([[symbol("A", 100, symbology="Code128", symbology_id="]C1")]] * 3)
    assert track.ec_used is None


def test_negative_window_or_gate_is_refused() -> None:
    with pytest.raises(ValueError, match="window_s"):
        PassageTracker(-0.1)
    with pytest.raises(ValueError, match="gate_sizes"):
        PassageTracker(0.5, gate_sizes=0)


def test_a_passage_seen_once_moves_with_the_belt_until_its_next_read() -> None:
    # Item 1 teaches the tracker the belt speed (10 px a frame). Item 2, with the same
    # EAN-13, is read once, lost for 8 frames, then read 90 px further on: the same item.
    frames: list[list[Symbol]] = [
        [symbol("4006381333931", 50 + 10 * i, 100, symbology="EAN13", symbology_id="]E0")]
        for i in range(10)
    ]
    frames.append([symbol("4006381333931", 60, 300, symbology="EAN13", symbology_id="]E0")])
    frames += [[]] * 8
    frames.append([symbol("4006381333931", 150, 300, symbology="EAN13", symbology_id="]E0")])

    tracks = run(frames)

    assert [t.frames for t in tracks] == [10, 2]


def test_a_serialised_code_continues_its_passage_wherever_it_is_read() -> None:
    serialised = "010893850000001021000123"
    tracker = PassageTracker(WINDOW, serialised=lambda s: s.text == serialised)
    closed: list[Track] = []
    for index, x in enumerate([100, 110, 600, 610]):  # a far jump in frame 2
        mono = index / FPS
        closed += tracker.observe(
            index, mono, START + timedelta(seconds=mono), [symbol(serialised, x, 100)]
        )
    closed += tracker.finish()

    assert [t.frames for t in closed] == [4]
    # Without the serialisation hint the far read is another item with the same code.
    assert [
        t.frames for t in run([[symbol(serialised, x, 100)] for x in (100, 110, 600, 610)])
    ] == [2, 2]


# --- carried sightings: labels already read, not decoded again ------------------------------


def test_carried_sightings_extend_a_passage_without_counting_as_decodes() -> None:
    tracker = PassageTracker(WINDOW)
    a = symbol("A")
    tracker.observe(0, 0.0, START, [a])
    for index in range(1, 5):
        mono = index / FPS
        tracker.observe(index, mono, START + timedelta(seconds=mono), [], [a])

    (track,) = tracker.finish()

    assert (track.frames, track.decodes) == (5, 1)
    assert track.last_seen == START + timedelta(seconds=4 / FPS)


def test_a_carried_sighting_never_starts_a_passage() -> None:
    tracker = PassageTracker(WINDOW)
    tracker.observe(0, 0.0, START, [], [symbol("A")])

    assert tracker.open_count == 0
    assert tracker.finish() == []


# --- the region tracker: located symbols followed along the belt ---------------------------

BELT = (30.0 * FPS, 0.0)  # 30 px a frame, left to right
LABEL = (60.0, 60.0)


def region(
    x: float,
    y: float = 200.0,
    *,
    size: tuple[float, float] = LABEL,
    bars: float | None = None,
    coherence: float = 0.05,
    edge: bool = False,
    density: float = 200.0,
) -> Region:
    return Region((x, y), size, 0.0, bars, coherence, density, edge)


def seen(
    tracker: RegionTracker, index: int, *sightings: Sighting, image: Image | None = None
) -> tuple[list[Symbol], list[RegionTrack]]:
    mono = index / FPS
    return tracker.observe(index, mono, START + timedelta(seconds=mono), sightings, image)


Card = tuple[float, float, float, float]  # x0, y0, x1, y1 of a label card in a frame


def painted(cards: list[Card], *, sticker: Card | None = None) -> Image:
    """A belt frame (dark grey) with white label cards on it, and a grey sticker."""
    image = np.full((400, 1200), 70, np.uint8)
    for x0, y0, x1, y1 in cards:
        cv2.rectangle(image, (round(x0), round(y0)), (round(x1), round(y1)), 230, cv2.FILLED)
    if sticker is not None:
        x0, y0, x1, y1 = sticker
        cv2.rectangle(image, (round(x0), round(y0)), (round(x1), round(y1)), 205, cv2.FILLED)
    return image


def follow(
    frames: list[list[Sighting]],
    *,
    cards: Callable[[int], Image] | None = None,
    linear_confirmations: int = 2,
) -> list[RegionTrack]:
    """Every region track, closed, for one list of sightings per frame; ``cards(i)`` is
    frame ``i`` (default: plain grey, on which everything lies on one label)."""
    tracker = RegionTracker(WINDOW, linear_confirmations)
    tracker.belt = BELT
    plain = np.full((400, 1200), 128, np.uint8)
    closed: list[RegionTrack] = []
    for index, sightings in enumerate(frames):
        image = cards(index) if cards is not None else plain
        closed += seen(tracker, index, *sightings, image=image)[1]
    return closed + tracker.finish()


def moving(*cards: Card, sticker: Card | None = None) -> Callable[[int], Image]:
    """Frames of the belt carrying ``cards`` (as in frame 0) 30 px a frame."""

    def at(index: int) -> Image:
        step = 30 * index
        shift = [(x0 + step, y0, x1 + step, y1) for x0, y0, x1, y1 in cards]
        moved = (
            None
            if sticker is None
            else (sticker[0] + step, sticker[1], sticker[2] + step, sticker[3])
        )
        return painted(shift, sticker=moved)

    return at


def noreads(tracks: list[RegionTrack]) -> list[RegionTrack]:
    return [track for track in tracks if track.is_noread]


def test_a_symbol_never_decoded_is_one_noread_with_a_snapshot() -> None:
    tracks = follow([[Sighting(region(100 + 30 * i))] for i in range(6)])

    (track,) = tracks
    assert track.is_noread
    assert track.frames == 6
    assert track.whole == 6
    assert track.snapshot is not None
    assert track.snapshot.shape == (92, 92)


def test_a_decoded_symbol_is_no_noread_and_is_hinted_at_where_it_will_be() -> None:
    dm = symbol("DM", 100, 200)
    tracker = RegionTracker(WINDOW, 2)
    tracker.belt = BELT
    seen(tracker, 0, Sighting(region(100), (dm,)))

    (hint,) = tracker.hints(2 / FPS)
    assert hint.region.centre == pytest.approx((160.0, 200.0))
    carried, _ = seen(tracker, 2, Sighting(region(160), carried=hint.key))
    assert [s.centre for s in carried] == [pytest.approx((160.0, 200.0))]
    (track,) = tracker.finish()
    assert not track.is_noread
    assert track.frames == 2


def test_a_linear_code_is_hinted_only_once_two_frames_agree() -> None:
    ean = symbol("4006381333931", 100, 200, symbology="EAN13", symbology_id="]E0")
    tracker = RegionTracker(WINDOW, 2)
    tracker.belt = BELT
    seen(tracker, 0, Sighting(region(100, bars=0.0, coherence=0.9), (ean,)))
    assert tracker.hints(1 / FPS) == []

    seen(tracker, 1, Sighting(region(130, bars=0.0, coherence=0.9), (ean,)))
    assert len(tracker.hints(2 / FPS)) == 1


def test_a_linear_code_with_a_misread_beside_it_is_hinted_only_once_it_leads_by_two() -> None:
    # One frame reads the code, the next two a misread whose check digit fits: carried
    # along from there, the misread would outnumber the code in frames.
    real = symbol("4006381333931", 100, 200, symbology="EAN13", symbology_id="]E0")
    wrong = symbol("4006381339931", 100, 200, symbology="EAN13", symbology_id="]E0")
    tracker = RegionTracker(WINDOW, 2)
    tracker.belt = BELT
    reads = [real, wrong, wrong, real, real, real]
    hinted = []
    for index, read in enumerate(reads):
        moved = shifted(read, 30 * index, 0)
        seen(tracker, index, Sighting(region(100 + 30 * index, bars=0.0, coherence=0.9), (moved,)))
        hinted.append(len(tracker.hints((index + 1) / FPS)))

    assert hinted == [0, 0, 0, 0, 0, 1]  # 4 reads of the code against 2 of the misread


def test_a_hint_goes_stale_with_the_window() -> None:
    tracker = RegionTracker(WINDOW, 1)
    tracker.belt = BELT
    seen(tracker, 0, Sighting(region(100), (symbol("DM"),)))

    assert len(tracker.hints(WINDOW - 0.01)) == 1
    assert tracker.hints(WINDOW + 0.01) == []


def test_a_cut_off_label_a_speck_or_a_glint_is_no_noread() -> None:
    cut = [[Sighting(region(10 + 30 * i, edge=True))] for i in range(6)]
    speck = [[Sighting(region(100 + 30 * i, size=(24.0, 24.0)))] for i in range(6)]
    once = [[Sighting(region(100))]]

    for frames in (cut, speck, once):
        assert noreads(follow(frames)) == []


def test_a_caption_beside_a_read_symbol_belongs_to_that_label() -> None:
    frames = [
        [
            Sighting(region(100 + 30 * i), (symbol("DM", 100 + 30 * i, 200),)),
            Sighting(region(195 + 30 * i, size=(60.0, 40.0))),  # 35 px to the right
        ]
        for i in range(6)
    ]

    tracks = follow(frames, cards=moving((60, 160, 240, 240)))

    assert len(tracks) == 2
    assert noreads(tracks) == []


def test_two_undecoded_parts_of_one_label_make_one_noread() -> None:
    beside = [
        [Sighting(region(100 + 30 * i)), Sighting(region(170 + 30 * i, size=(60.0, 40.0)))]
        for i in range(6)
    ]
    # The two ends of a linear code either side of a sticker, 300 px apart in line.
    ends = [
        [
            Sighting(region(100 + 30 * i, bars=0.0, coherence=0.9)),
            Sighting(region(400 + 30 * i, bars=0.0, coherence=0.9)),
        ]
        for i in range(6)
    ]

    one_card = moving((60, 160, 220, 240))
    long_card = moving((60, 160, 440, 240), sticker=(140, 150, 360, 250))
    assert len(noreads(follow(beside, cards=one_card))) == 1
    assert len(noreads(follow(ends, cards=long_card))) == 1


def test_two_undecoded_labels_apart_are_two_noreads() -> None:
    big = (80.0, 80.0)  # symbols, not slivers
    frames = [  # 60 px between them, as labels on two boxes side by side at least are
        [
            Sighting(region(100 + 30 * i, 100, size=big)),
            Sighting(region(100 + 30 * i, 240, size=big)),
        ]
        for i in range(6)
    ]

    two_cards = moving((50, 50, 150, 150), (50, 190, 150, 290))
    assert len(noreads(follow(frames, cards=two_cards))) == 2


def test_covered_linear_labels_in_line_on_two_boxes_are_two_noreads() -> None:
    # What is left of two covered linear codes lies on one line across their bars, 300 px
    # apart: as far apart as the ends of one covered code, but with the belt between.
    frames = [
        [
            Sighting(region(100 + 30 * i, bars=0.0, coherence=0.9)),
            Sighting(region(400 + 30 * i, bars=0.0, coherence=0.9)),
        ]
        for i in range(6)
    ]

    two_boxes = moving((40, 150, 220, 250), (320, 150, 500, 250))
    assert len(noreads(follow(frames, cards=two_boxes))) == 2


def test_parts_of_one_label_seen_in_turn_make_one_noread() -> None:
    # Glare or blur hides one part of a worn label, then the other: the two parts are
    # never located in the same frame, and still make one no-read.
    frames = [
        [Sighting(region(100 + 30 * i))] if i < 4 else [Sighting(region(300 + 30 * i))]
        for i in range(8)
    ]

    assert len(noreads(follow(frames, cards=moving((60, 160, 340, 240))))) == 1


def test_slivers_of_a_covered_label_found_one_at_a_time_make_one_noread() -> None:
    # A sticker leaves only the ends of the bars above and below it: each frame the
    # locator finds one speck of them, each time another, none a symbol's size alone.
    # Specks where edges cross are not as dense in edges as a code, and make none.
    spots = [(0, -35), (90, 35), (180, -35), (270, 35)]
    speck = (24.0, 24.0)

    def found(density: float) -> list[RegionTrack]:
        frames = [
            [Sighting(region(100 + dx + 30 * i, 200 + dy, size=speck, density=density))]
            for i, (dx, dy) in ((i, spots[i % len(spots)]) for i in range(8))
        ]
        return follow(frames, cards=moving((60, 140, 420, 260)))

    slivers, crossings = found(CODE_DENSITY + 30), found(CODE_DENSITY - 30)

    assert speck[0] * speck[1] < MIN_NOREAD_AREA
    assert len(slivers) == len(spots)
    assert len(noreads(slivers)) == 1
    assert len(crossings) == len(spots)
    assert noreads(crossings) == []


def test_labels_seen_in_turn_on_two_boxes_are_two_noreads() -> None:
    frames = [
        [Sighting(region(100 + 30 * i))] if i < 4 else [Sighting(region(300 + 30 * i))]
        for i in range(8)
    ]

    two_boxes = moving((60, 160, 150, 240), (250, 160, 340, 240))
    assert len(noreads(follow(frames, cards=two_boxes))) == 2


def test_a_sliver_beside_a_covered_symbol_is_part_of_its_noread() -> None:
    frames = [
        [
            Sighting(region(100 + 30 * i, 100, size=(80.0, 80.0))),
            Sighting(region(100 + 30 * i, 250, size=(40.0, 30.0))),  # 150 px off, small
        ]
        for i in range(6)
    ]

    assert len(noreads(follow(frames, cards=moving((50, 50, 150, 280))))) == 1


def test_without_a_code_the_regions_measure_the_belt_themselves() -> None:
    tracker = RegionTracker(WINDOW, 2)  # no belt given
    closed: list[RegionTrack] = []
    for index in range(6):  # two labels moving 80 px a frame, wider than they are long
        closed += seen(
            tracker,
            index,
            Sighting(region(100 + 80 * index, 100)),
            Sighting(region(300 + 80 * index, 300)),
        )[1]

    assert len(closed + tracker.finish()) == 2


def test_a_region_moving_more_than_its_size_per_frame_stays_one_track_with_the_belt() -> None:
    fast = [[Sighting(region(100 + 80 * i))] for i in range(6)]  # 80 px a frame, 60 px wide
    tracker = RegionTracker(WINDOW, 2)
    tracker.belt = (80.0 * FPS, 0.0)
    closed: list[RegionTrack] = []
    for index, sightings in enumerate(fast):
        closed += seen(tracker, index, *sightings)[1]

    assert len(closed + tracker.finish()) == 1


def test_a_still_frame_extends_what_was_in_view_without_decoding() -> None:
    tracker = RegionTracker(WINDOW, 2)
    seen(tracker, 0, Sighting(region(100), (symbol("DM"),)), Sighting(region(400)))
    tracker.observe_still(1, 1 / FPS, START + timedelta(seconds=1 / FPS))

    tracks = tracker.finish()

    assert [t.frames for t in tracks] == [2, 2]
    assert [sum(t.decodes.values()) for t in tracks] == [1, 0]
