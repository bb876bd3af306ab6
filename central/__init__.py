"""The central service: ingest, storage, traces, the portal relay and the operators' API."""
