"""How much one trace lists: the bounds its queries and its response models share.

Lists that can grow with a code's or a lot's history are cut at these sizes, each with its
total count or a flag saying so, so that one request stays bounded however big the answer.
"""

from __future__ import annotations

__all__ = ["CHUNK", "MAX_CONTENTS", "MAX_ITEMS_PAGE", "MAX_LISTED", "MISMATCHES_LISTED"]

# A code is seen a handful of times on its way through a plant; a thousand sightings
# means a reused or copied label, and the first thousand show that well enough.
MAX_LISTED = 1000
# A pallet of cases of items holds a few thousand codes; the walk down stops at this
# many so that a huge or looping hierarchy cannot make one request unbounded.
MAX_CONTENTS = 10_000
# Items of a lot per page: a lot of a day's production holds tens of thousands.
MAX_ITEMS_PAGE = 1000
# Mismatches listed one by one in a lot trace (all of them are counted).
MISMATCHES_LISTED = 100
# Children looked up per query while walking down the hierarchy; see containers._CHUNK.
CHUNK = 500
