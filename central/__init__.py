"""The central service: ingest, derivations, storage, queries, the operators' API and CLI.

In: scan events from the stations over MQTT, and operators' requests (HTTP, the
``linetrace central`` verbs). Out: stored events and what is derived from them, the
stations' ``ack`` watermarks and batch announcements, traces, alarms, and (to come) EPCIS
documents to the portal. The flow, one sub-package per stage: :mod:`.ingest` →
:mod:`.derive` → :mod:`.store` → :mod:`.query` → :mod:`.api` / :mod:`.web` /
:mod:`.cli`, with :mod:`.relay` reserved for the portal relay; :mod:`.config` is the
service's settings.
"""
