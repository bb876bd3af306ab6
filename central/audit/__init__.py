"""The audit log: who did what to which record, in a hash-chained, append-only table.

In: actions made by people and tokens (through the API, the pages and the CLI), recorded
with :func:`record` in the transaction that makes the change, so a change and its record
commit or roll back together. Out: the chain read back (:mod:`.listing`) and proved
untouched or broken at a named record (:mod:`.verify`).

Tables live in :mod:`linetrace.central.store.audit_tables`; this package only reads and
appends rows.
"""

from linetrace.central.audit.actors import actor_of, cli_actor
from linetrace.central.audit.chain import AuditRecord, record, record_hash

__all__ = ["AuditRecord", "actor_of", "cli_actor", "record", "record_hash"]
