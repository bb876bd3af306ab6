"""The ``linetrace synth`` verbs: write a seeded conveyor video or one label image.

OpenCV and zxing-cpp are imported inside the handlers, so the ``linetrace`` command still
loads on a server that has neither.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from linetrace.synth.kinds import Level, Symbology

__all__ = ["parse_mix", "register"]

_VIDEO_SUFFIXES = (".mp4", ".avi")
_IMAGE_SUFFIXES = (".png", ".jpg")


def parse_mix(text: str) -> dict[str, float]:
    """``gs1-datamatrix=2,ean-13=1`` as a weight per symbology; names are checked later."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"expected NAME=WEIGHT, got {part!r}")
        try:
            mix[name] = float(weight)
        except ValueError as error:
            message = f"weight of {name} is not a number: {weight!r}"
            raise argparse.ArgumentTypeError(message) from error
    return mix


def _conveyor(args: argparse.Namespace) -> int:
    from linetrace.progress import progress, watched
    from linetrace.synth.conveyor import ConveyorSpec, plan, write_conveyor, write_image_folder

    out: Path = args.out
    options = {
        "items": args.items,
        "fps": args.fps,
        "width": args.width,
        "height": args.height,
        "items_per_second": args.items_per_second,
        "seed": args.seed,
        "degradation": args.degradation,
    }
    try:
        spec = ConveyorSpec(**options, **({"mix": args.mix} if args.mix else {}))
        if out.suffix and out.suffix.lower() not in _VIDEO_SUFFIXES:
            raise ValueError(
                f"{out}: give a video ({', '.join(_VIDEO_SUFFIXES)}) or a folder without suffix"
            )
        total = plan(spec).frames if watched() else None
        with progress("rendering", total=total, unit="frames") as bar:
            if out.suffix:
                truth = write_conveyor(out, spec, on_frame=bar.advance)
            else:
                truth = write_image_folder(out, spec, args.image_format, on_frame=bar.advance)
    except ValueError as error:
        print(f"linetrace synth conveyor: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"linetrace synth conveyor: {error}", file=sys.stderr)
        return 1
    readable = sum(item.readable for item in truth.items)
    seconds = truth.frames / spec.fps
    print(
        f"{len(truth.items)} items, {readable} readable, {truth.frames} frames, "
        f"{seconds:.1f} s at {spec.fps:g} fps -> {out}"
    )
    return 0


def _label(args: argparse.Namespace) -> int:
    import cv2

    from linetrace.synth.codes import CodeFactory
    from linetrace.synth.labels import render_label

    out: Path = args.out
    if out.suffix.lower() not in _IMAGE_SUFFIXES:
        print(f"linetrace synth label: {out}: use {' or '.join(_IMAGE_SUFFIXES)}", file=sys.stderr)
        return 2
    if args.module_px < 1:
        print("linetrace synth label: --module-px must be at least 1", file=sys.stderr)
        return 2
    data = CodeFactory(args.seed).label_data(Symbology(args.symbology))
    label = render_label(data, args.module_px)
    if not cv2.imwrite(str(out), label.image):
        print(f"linetrace synth label: {out}: could not write the image", file=sys.stderr)
        return 1
    print(f"{data.symbology.value} {data.text} -> {out}")
    return 0


def _add_conveyor(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "conveyor",
        help="write a seeded conveyor video (or frame folder) and its truth file",
        description=(
            "Write labelled boxes riding a belt to OUT (.mp4, .avi, or a folder of frames) "
            "and the ground truth to OUT.truth.json. The same seed gives the same bytes."
        ),
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="OUT.mp4, OUT.avi or a folder")
    parser.add_argument("--items", type=int, default=100, help="items on the belt")
    parser.add_argument("--fps", type=float, default=30.0, help="frames per second")
    parser.add_argument("--seed", type=int, default=0, help="random seed (>= 0)")
    parser.add_argument("--width", type=int, default=1280, help="frame width in pixels")
    parser.add_argument("--height", type=int, default=720, help="frame height in pixels")
    parser.add_argument(
        "--items-per-second", type=float, default=2.0, help="line speed, up to 20 items/s"
    )
    parser.add_argument(
        "--mix",
        type=parse_mix,
        default=None,
        help="symbology weights, e.g. gs1-datamatrix=2,ean-13=1 (names: "
        + ", ".join(s.value for s in Symbology)
        + "; default all equal)",
    )
    parser.add_argument(
        "--degradation", choices=[level.value for level in Level], default=Level.LOW.value
    )
    parser.add_argument(
        "--image-format",
        choices=_IMAGE_SUFFIXES,
        default=".png",
        help="frame files when OUT is a folder",
    )
    parser.set_defaults(handler=_conveyor)


def _add_label(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = verbs.add_parser(
        "label",
        help="write one seeded label image",
        description="Render the label of one seeded item to OUT (.png or .jpg).",
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="OUT.png or OUT.jpg")
    parser.add_argument(
        "--symbology",
        choices=[s.value for s in Symbology],
        default=Symbology.GS1_DATAMATRIX.value,
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (>= 0)")
    parser.add_argument("--module-px", type=int, default=4, help="pixels per module")
    parser.set_defaults(handler=_label)


def register(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``synth`` and its verbs to the ``linetrace`` command."""
    synth = parts.add_parser(
        "synth", help="seeded synthetic labels and conveyor footage for tests and demos"
    )
    verbs = synth.add_subparsers(dest="verb", required=True, metavar="VERB")
    _add_conveyor(verbs)
    _add_label(verbs)
