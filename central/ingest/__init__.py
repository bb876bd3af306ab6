"""Ingest: scan events off the broker into the store, acknowledged only once committed.

In: MQTT v5 messages on the stations' ``events`` topics (a shared subscription), taken by
the receiver child process (:mod:`.receiver`, supervised by :mod:`.supervisor`) and
dead letters an operator replays (:mod:`.replay`), handed to the writer thread through
:mod:`.handover`. Out: one write batch per transaction
(:mod:`.write_batch`: validated by :mod:`.validation`, a no-read's picture taken out of
its event by :mod:`.snapshots`, stored, handed to :mod:`linetrace.central.derive`), the broker acknowledgements after the commit, the
stations' retained ``ack`` watermarks (:mod:`.watermarks`) and batch announcements
(:mod:`.announce`), and the counters (:mod:`.stats`). :mod:`.service` ties it together.

Nothing is imported here: the receiver child is a spawned interpreter that should load
only its own module, not the database side.
"""

__all__: list[str] = []
