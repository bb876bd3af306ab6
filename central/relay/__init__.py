"""The portal relay: stored events on to EPCIS repositories and the national portal.

In: stored scan events, queued for each target in ``[[relay.targets]]`` in the same
transaction that the ingest stores them in (:mod:`.queue`), so an acknowledged event is
never missing from the queue. Out: GS1 EPCIS 2.0 documents (:mod:`.epcis`) delivered by
one adapter per target kind (:mod:`.targets`), retried until the target answers, each
event captured once in effect (claims with leases, a ledger of accepted eventIDs), and
the status per target and lot (:mod:`.status`). :mod:`.worker` runs the rounds,
:mod:`.process` runs them in a child of ``linetrace central run``; :mod:`.sandbox` is a
stand-in target for tests and the demo.
"""

__all__: list[str] = []
