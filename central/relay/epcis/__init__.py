"""The standard's language: GS1 EPCIS 2.0 JSON-LD events and documents (CBV 2.0).

In: central's stored scan events (with their station, production batch and product).
Out: EPCIS 2.0 event dicts whose ``eventID`` is the CBV 2.0 event hash
(:mod:`.mapping`, :mod:`.hashing`), EPCIS documents of bounded size and their encoded
bytes (:mod:`.documents`), ErrorDeclaration corrections, and schema checks against GS1's
EPCIS JSON Schema (:mod:`.schema`). Nothing here does I/O beyond reading the database
rows it maps; delivery lives in :mod:`linetrace.central.relay` proper.
"""

__all__: list[str] = []
