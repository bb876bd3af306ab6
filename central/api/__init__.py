"""The central service's HTTP API: one router per area, assembled by :func:`create_app`."""

from linetrace.central.api.app import create_app

__all__ = ["create_app"]
