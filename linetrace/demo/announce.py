"""What the demo tells the person who started it: where to look, how to sign in, and a
progress line every few seconds read from central's own health and relay reports."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from linetrace.demo.plant import STATIONS, DemoPlan
from linetrace.demo.stack import RELAY_TARGET, Login

__all__ = ["announce", "epcis_schema", "progress"]


def epcis_schema() -> Path | None:
    """GS1's EPCIS 2.0 JSON Schema when this machine has it (it is not shipped with us)."""
    configured = os.environ.get("LINETRACE_EPCIS_SCHEMA")
    if configured:
        return Path(configured)
    beside = Path.cwd().parent / "shared" / "epcis" / "schema" / "EPCIS-JSON-Schema.json"
    return beside if beside.is_file() else None


def announce(plan: DemoPlan, login: Login) -> str:
    """The block printed once the plant runs."""
    stations = "\n".join(f"  camera     {s.id} ({s.role}): {plan.camera_url(s)}" for s in STATIONS)
    sign_in = (
        f"  login      user {login.user}  password {login.password}\n"
        if login.user
        else f"  login      {login.note}\n"
    )
    return (
        "\nlinetrace demo is running (Ctrl-C stops it):\n"
        f"  dashboard  {plan.api_url}/\n" + sign_in + f"  events     {plan.api_url}/api/events\n"
        f"  health     {plan.api_url}/healthz\n"
        f"  API docs   {plan.api_url}/docs\n"
        f"  relay      {plan.api_url}/api/relay\n"
        f"  broker     mqtt://127.0.0.1:{plan.broker_port} (credentials in "
        f"{plan.state / 'broker' / 'credentials'})\n"
        f"{stations}\n"
        f"  footage    {plan.fps:g} fps at 800x450, {plan.items_per_second:g} items/s, "
        f"a new video with new serials every {plan.items_per_video} items\n" + _sandbox_line(plan)
    )


def _sandbox_line(plan: DemoPlan) -> str:
    if plan.sandbox_port is None:
        return "  relay      off (--no-relay)\n"
    checks = (
        "validating against GS1's EPCIS 2.0 schema"
        if epcis_schema()
        else "checking the envelope only: set LINETRACE_EPCIS_SCHEMA to GS1's schema"
    )
    return (
        f"  EPCIS      {plan.sandbox_url}/events  (the sandbox the relay delivers to, {checks})\n"
    )


def _get(url: str, token: str | None) -> Any:
    request = urllib.request.Request(url)  # noqa: S310 - the demo's own http:// URL
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
        return json.load(response)


def progress(plan: DemoPlan, token: str | None = None) -> str:
    """One line: what central stored and what the relay delivered."""
    try:
        report = _get(plan.api_url + "/healthz", None)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"central not answering ({exc})"
    ingest = report.get("ingest") or {}
    line = (
        f"central {report.get('status')}: {ingest.get('stored', 0)} events stored, "
        f"{ingest.get('duplicates', 0)} resends skipped, "
        f"{ingest.get('dead_lettered', 0)} dead-lettered"
    )
    if plan.sandbox_port is None:
        return line
    try:
        relay = _get(plan.api_url + "/api/relay", token)
    except (urllib.error.URLError, OSError, ValueError):
        return line + "; relay status not answering"
    targets = {entry.get("target"): entry for entry in relay.get("targets", [])}
    counts = (targets.get(RELAY_TARGET) or {}).get("counts", {})
    return line + (
        f"; relayed to EPCIS: {counts.get('accepted', 0)} accepted, "
        f"{counts.get('queued', 0) + counts.get('sent', 0)} on the way, "
        f"{counts.get('rejected', 0)} rejected"
    )
