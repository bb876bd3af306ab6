"""What central derives from stored events, in the transaction that stores them.

In: the rows the ingest has just inserted (:func:`.on_stored.on_events_stored`), and the
registries the derivations judge against: stations (:mod:`.stations`), product master
data (:mod:`.products`) and production batches (:mod:`.production_batches`), which
operators edit through the API and the CLI. Out: per-station seq progress and gaps
(:mod:`.progress`), payload conflicts (:mod:`.conflicts`), containment
(:mod:`.containers`), lot summaries (:mod:`.lot_summaries`), failed batch checks
(:mod:`.mismatches`) and the alarms (:mod:`.alarms`, swept by :mod:`.gap_alarms`,
:mod:`.dead_letter_alarms` and :mod:`.seq_reuse`). :mod:`.codes` says what a code names.

Master data lives here rather than in a package of its own because the derivations and
the registries call each other (a batch check raises an alarm; closing a batch clears
it): one package keeps that traffic inside it, with no import circle between packages.
"""

__all__: list[str] = []
