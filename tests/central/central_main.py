"""``linetrace central ...`` with only the central verbs registered.

The tests run the central command through this, in-process and as a child process, so
they exercise exactly the central part's parser and handlers.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from linetrace.central.cli import register


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="linetrace")
    register(parser.add_subparsers(dest="part", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
