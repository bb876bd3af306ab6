"""Real photographs: the scanner against a plain zxing-cpp read, per symbology.

The photos in ``bench/photos/`` (public sets, see ``bench/photos/NOTICE.md``; each with its
symbology and expected text in ``manifest.json``, and photos with no code at all) are read
two ways, each by the station's scanner and by a plain ``zxingcpp.read_barcodes`` with its
default options:

* **single image**: the scanner reads the photo as ``linetrace edge scan photo.jpg`` does
  (:class:`~linetrace.edge.scanner.scanner.Scanner` on the image file); the plain read
  decodes the same file;
* **still video**: every photo, centred on a fixed-size frame, is held for
  :data:`HOLD_FRAMES` identical frames and followed by a gap of empty belt, as an item on a
  stop-and-go line; the video is written lossless (FFV1) and the scanner reads it as a
  file. A passage counts for the photo in whose frames it starts. The plain read decodes
  one of those frames (all are identical, so a loop over the six reads the same).

A photo is *read* when some decoded text equals its expected text (group separators
ignored; an EAN-13 with a leading 0 equals its UPC-A); every other decoded text, and any
read of a photo with no code, is a *false read*. Goal (issue 10): in every symbology the
scanner reads at least as many photos as the plain read, with fewer false reads, in both
forms. For each shortfall the photos are listed with what the scanner logged about them.

    .venv/bin/python bench/edge_photos.py                 # every photo, a few minutes
    .venv/bin/python bench/edge_photos.py --limit 2       # two photos per symbology
    .venv/bin/python bench/edge_photos.py --json out.json # the figures as JSON too
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.line.passage import Passage
from linetrace.edge.scanner.scanner import Scanner
from linetrace.edge.scanner.settings import DEFAULT_WORKERS
from linetrace.edge.vision.settings import PipelineConfig

PHOTOS = Path(__file__).resolve().parent / "photos"
MANIFEST = PHOTOS / "manifest.json"
NO_CODE = "none"
# The order of the table: the symbologies a line reads, then the photos with no code.
ORDER = (
    "GS1 DataMatrix",
    "DataMatrix",
    "QRCode",
    "GS1-128",
    "Code128",
    "EAN13",
    "UPCA",
    "EAN8",
    NO_CODE,
)
# The still video: 30 fps, each photo held for 6 frames (0.2 s) on a 640x480 frame, then
# empty belt for longer than the scanner's tracking window (0.5 s), so two photos of the
# same code stay two passages.
FPS = 30.0
HOLD_FRAMES = 6
GAP_FRAMES = 24
FRAME_SIZE = (640, 480)
BELT_GREY = 96
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
GS = "\x1d"

logger = logging.getLogger("edge_photos")


@dataclass(frozen=True)
class Photo:
    """One manifest entry: a file under ``bench/photos/`` and what it encodes."""

    file: str
    symbology: str
    expected: str | None

    @property
    def path(self) -> Path:
        return PHOTOS / self.file


@dataclass
class Outcome:
    """What one reader made of one photo in one form."""

    texts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the scanner's log lines, for misses


def load_manifest(limit: int | None = None, only: str | None = None) -> list[Photo]:
    """The photos of the manifest, at most ``limit`` per symbology, ``only`` those whose
    file name contains it."""
    entries = json.loads(MANIFEST.read_text(encoding="utf-8"))["photos"]
    photos = [Photo(e["file"], e["symbology"], e["expected"]) for e in entries]
    if only:
        photos = [p for p in photos if only in p.file]
    if limit is not None:
        taken: dict[str, int] = defaultdict(int)
        kept = []
        for photo in photos:
            if taken[photo.symbology] < limit:
                taken[photo.symbology] += 1
                kept.append(photo)
        photos = kept
    return photos


def same_text(expected: str, decoded: str) -> bool:
    """Whether ``decoded`` is ``expected``: group separators ignored (a source may or may
    not write the leading FNC1), and a 12-digit UPC-A equal to its 13-digit EAN-13 form."""
    want, got = expected.replace(GS, ""), decoded.replace(GS, "")
    if want.isdigit() and got.isdigit() and {len(want), len(got)} <= {12, 13}:
        return want.zfill(13) == got.zfill(13)
    return want == got


def hits(photo: Photo, outcome: Outcome) -> tuple[bool, int]:
    """(read, number of false reads) of one outcome."""
    if photo.expected is None:
        return False, len(outcome.texts)
    right = [t for t in outcome.texts if same_text(photo.expected, t)]
    return bool(right), len(outcome.texts) - len(right)


# --- the plain read -----------------------------------------------------------------------


def read_image(path: Path) -> npt.NDArray[np.uint8]:
    """The photo as the scanner's image source reads it (colour, any file name)."""
    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot decode {path}")
    return np.asarray(image, dtype=np.uint8)


def plain_read(image: npt.NDArray[np.uint8]) -> Outcome:
    """zxing-cpp with its defaults; GS1 content as its raw element string (with GS)."""
    texts = []
    for barcode in zxingcpp.read_barcodes(image):
        if barcode.content_type == zxingcpp.ContentType.GS1:
            texts.append(barcode.bytes.decode("latin-1"))
        else:
            texts.append(barcode.text)
    return Outcome(texts)


# --- the scanner --------------------------------------------------------------------------


class _Notes(logging.Handler):
    """Keeps the scanner's log lines (why a read was dropped) while one scan runs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


@contextmanager
def scanner_notes() -> Iterator[list[str]]:
    """The edge's log lines (INFO and up) emitted in this process while the block runs,
    kept here rather than printed."""
    handler = _Notes()
    edge = logging.getLogger("linetrace.edge")
    level, propagate = edge.level, edge.propagate
    edge.addHandler(handler)
    edge.setLevel(logging.INFO)
    edge.propagate = False
    try:
        yield handler.lines
    finally:
        edge.removeHandler(handler)
        edge.setLevel(level)
        edge.propagate = propagate


def passage_texts(passages: Iterable[Passage]) -> list[str]:
    return [p.text for p in passages if p.kind is EventKind.READ and p.text is not None]


def scan_photo(path: Path) -> Outcome:
    """The scanner on one image file, as ``linetrace edge scan photo.jpg`` runs it (the
    decode runs in this process: the reading is the same, without starting workers)."""
    config = PipelineConfig()
    with scanner_notes() as notes, Scanner(config, str(path), start=START, workers=0) as scanner:
        passages = list(scanner)
    return Outcome(passage_texts(passages), [line for line in notes if _telling(line)])


def _telling(line: str) -> bool:
    """A log line that says why a code was not reported."""
    return any(word in line for word in ("dropped", "rejected", "misread", "no read"))


def video_frame(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The photo in grey, shrunk to fit if larger, centred on an empty belt frame."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    width, height = FRAME_SIZE
    scale = min(1.0, width / grey.shape[1], height / grey.shape[0])
    if scale < 1.0:
        size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    frame = np.full((height, width), BELT_GREY, dtype=np.uint8)
    top, left = (height - grey.shape[0]) // 2, (width - grey.shape[1]) // 2
    frame[top : top + grey.shape[0], left : left + grey.shape[1]] = grey
    return frame


def write_still_video(frames: list[npt.NDArray[np.uint8]], path: Path) -> None:
    """Each frame held for HOLD_FRAMES, then GAP_FRAMES of empty belt; lossless FFV1."""
    width, height = FRAME_SIZE
    fourcc = cv2.VideoWriter.fourcc(*"FFV1")
    writer = cv2.VideoWriter(str(path), fourcc, FPS, (width, height), isColor=False)
    if not writer.isOpened():
        raise SystemExit("OpenCV cannot write FFV1 video here")
    belt = np.full((height, width), BELT_GREY, dtype=np.uint8)
    try:
        for _ in range(GAP_FRAMES):
            writer.write(belt)
        for frame in frames:
            for _ in range(HOLD_FRAMES):
                writer.write(frame)
            for _ in range(GAP_FRAMES):
                writer.write(belt)
    finally:
        writer.release()


def scan_still_video(photos: list[Photo], path: Path, workers: int) -> list[Outcome]:
    """The scanner on the still video: one outcome per photo, by where each passage
    starts (a passage starting in a gap goes to the photo before it)."""
    count = len(photos)
    outcomes = [Outcome() for _ in range(count)]
    config = PipelineConfig()
    scanner = Scanner(config, str(path), start=START, workers=workers)
    with scanner_notes() as notes, scanner:
        for passage in scanner:
            if passage.kind is not EventKind.READ or passage.text is None:
                continue
            frame = round((passage.first_seen - START).total_seconds() * FPS) - GAP_FRAMES
            index = min(count - 1, max(0, frame // (HOLD_FRAMES + GAP_FRAMES)))
            outcomes[index].texts.append(passage.text)
    # A log line belongs to a photo when it names the photo's text.
    for photo, outcome in zip(photos, outcomes, strict=True):
        if photo.expected is not None:
            text = photo.expected.replace(GS, "")
            outcome.notes = [line for line in notes if text and text in line]
    return outcomes


# --- the run and its figures --------------------------------------------------------------


@dataclass
class Row:
    """One symbology's figures; each pair is (photos read, false reads)."""

    symbology: str
    photos: int = 0
    scan_single: list[int] = field(default_factory=lambda: [0, 0])
    plain_single: list[int] = field(default_factory=lambda: [0, 0])
    scan_still: list[int] = field(default_factory=lambda: [0, 0])
    plain_still: list[int] = field(default_factory=lambda: [0, 0])
    shortfalls: list[str] = field(default_factory=list)
    # (form, why) -> photos: why the scanner missed what the plain read read
    why: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, photo: Photo, outcome: Outcome) -> bool:
        read, false = hits(photo, outcome)
        pair: list[int] = getattr(self, name)
        pair[0] += int(read)
        pair[1] += false
        return read


def run(photos: list[Photo], workers: int) -> list[Row]:
    rows = {name: Row(name) for name in ORDER}
    frames = []
    single: list[tuple[Photo, Outcome, Outcome]] = []
    for number, photo in enumerate(photos, start=1):
        image = read_image(photo.path)
        frames.append(video_frame(image))
        single.append((photo, scan_photo(photo.path), plain_read(image)))
        if number % 50 == 0:
            print(f"  single images: {number}/{len(photos)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="edge-photos-") as folder:
        video = Path(folder) / "still.mkv"
        write_still_video(frames, video)
        still = scan_still_video(photos, video, workers)
    for (photo, scanned, plain), frame, held in zip(single, frames, still, strict=True):
        row = rows.setdefault(photo.symbology, Row(photo.symbology))
        row.photos += 1
        plain_held = plain_read(frame)
        for form, scan, base in (("single", scanned, plain), ("still", held, plain_held)):
            scan_ok = row.add(f"scan_{form}", photo, scan)
            base_ok = row.add(f"plain_{form}", photo, base)
            scan_false, base_false = hits(photo, scan)[1], hits(photo, base)[1]
            if (base_ok and not scan_ok) or scan_false > base_false:
                row.shortfalls.append(_shortfall(form, photo, scan, base))
                key = f"{form}: {_why(photo, scan, base)}"
                row.why[key] = row.why.get(key, 0) + 1
    return [row for row in rows.values() if row.photos]


def _why(photo: Photo, scan: Outcome, base: Outcome) -> str:
    """The kind of shortfall, from the scanner's own account of the photo."""
    if hits(photo, scan)[1] > hits(photo, base)[1]:
        return "more false reads"
    said = " ".join(scan.notes)
    for words, reason in (
        ("unconfirmed", "decoded, dropped as unconfirmed"),
        ("misread", "decoded, dropped as a misread"),
        ("rejected", "decoded, rejected by the GS1 checks"),
    ):
        if words in said:
            return reason
    return "not decoded"


def _shortfall(form: str, photo: Photo, scan: Outcome, base: Outcome) -> str:
    notes = "; ".join(dict.fromkeys(scan.notes))[:300] or "nothing logged"
    return (
        f"{form:<6} {photo.file}: expected {_show(photo.expected)}, scanner "
        f"{[_show(t) for t in scan.texts]}, plain {[_show(t) for t in base.texts]} ({notes})"
    )


def _show(text: str | None) -> str:
    return "(no code)" if text is None else text.replace(GS, "<GS>")[:48]


def _share(pair: list[int], photos: int, *, no_code: bool) -> str:
    return "-" if no_code else f"{pair[0]}/{photos} {pair[0] / photos:4.0%}"


def _ratio(scan: int, plain: int) -> str:
    return "-" if plain == 0 else f"{scan / plain:.2f}x"


def report(rows: list[Row]) -> bool:
    """Prints the table, the ratios and the shortfalls; True when the goal is met."""
    head = "{:<15} {:>6} | {:>12} {:>12} {:>6} | {:>12} {:>12} {:>6} | {:>11} {:>11}"
    columns = ("scanner", "plain", "ratio") * 2
    print(head.format("symbology", "photos", *columns, "false 1 img", "false still"))
    print(
        head.format(
            "", "", "single image", "", "", "still video", "", "", "scan/plain", "scan/plain"
        )
    )
    met = True
    for row in rows:
        none = row.symbology == NO_CODE
        print(
            head.format(
                row.symbology,
                row.photos,
                _share(row.scan_single, row.photos, no_code=none),
                _share(row.plain_single, row.photos, no_code=none),
                "-" if none else _ratio(row.scan_single[0], row.plain_single[0]),
                _share(row.scan_still, row.photos, no_code=none),
                _share(row.plain_still, row.photos, no_code=none),
                "-" if none else _ratio(row.scan_still[0], row.plain_still[0]),
                f"{row.scan_single[1]}/{row.plain_single[1]}",
                f"{row.scan_still[1]}/{row.plain_still[1]}",
            )
        )
        for scan, plain in ((row.scan_single, row.plain_single), (row.scan_still, row.plain_still)):
            # "fewer false reads": none at all when the plain read has none to beat.
            if scan[0] < plain[0] or (scan[1] >= plain[1] and scan[1] > 0):
                met = False
    shortfalls = [(row.symbology, s) for row in rows for s in row.shortfalls]
    if shortfalls:
        print(f"\nwhere the scanner falls short of the plain read ({len(shortfalls)}):")
        for symbology, line in shortfalls:
            print(f"  {symbology:<14} {line}")
        print("\nwhy, per symbology (photos the plain read read and the scanner did not):")
        for row in rows:
            if row.why:
                counts = ", ".join(f"{key} {n}" for key, n in sorted(row.why.items()))
                print(f"  {row.symbology:<14} {counts}")
    verdict = "met" if met else "not met"
    print(f"\ngoal (>= plain reads, fewer false reads, both forms, every symbology): {verdict}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="at most this many photos per symbology")
    parser.add_argument("--only", help="only the photos whose file name contains this")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="still video")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    photos = load_manifest(args.limit, args.only)
    if not photos:
        print("no photos chosen", file=sys.stderr)
        return 2
    print(f"{len(photos)} photos from {MANIFEST.relative_to(PHOTOS.parent.parent)}", flush=True)
    rows = run(photos, args.workers)
    met = report(rows)
    if args.json is not None:
        figures = {"goal_met": met, "rows": [asdict(row) for row in rows]}
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
