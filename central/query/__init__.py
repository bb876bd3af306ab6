"""Reading central's store for the API and the CLI: SQL only, no writes.

In: a database connection and what the caller asks for (a code, a lot, filters and a
cursor). Out: pages of stored events (:mod:`.events`; the auditors' search with every
filter, both orders and a capped total: :mod:`.search`) and dead letters
(:mod:`.dead_letters`), one code's lineage (:mod:`.code_trace`) and one lot's story
(:mod:`.lot_trace`), as the models of :mod:`.trace_models` (which the API returns as
they are) and bounded by :mod:`.trace_limits`.
"""

__all__: list[str] = []
