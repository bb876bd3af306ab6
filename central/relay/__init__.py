"""The portal relay (a place for it; nothing here yet).

In: stored scan events, queued for the relay in the same transaction that the ingest
stores them in, so an acknowledged event is never missing from the queue. Out: GS1
EPCIS 2.0 documents (JSON-LD over HTTPS) sent to each configured target, retried until
the target confirms, each event sent once in effect.
"""

__all__: list[str] = []
