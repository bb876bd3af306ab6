"""Setting the demo plant up: broker accounts, central's and the edge boxes' configs, the
stations, one production batch per line, the dashboard's admin, and the child processes.

Everything goes into the state folder; a second run reuses it (same accounts, same
database, serials carried on), and a ``rm -r`` of the folder starts afresh.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.demo.footage import line_product
from linetrace.demo.plant import SITE, STATIONS, UTC_OFFSET, DemoPlan
from linetrace.processes import Child, linetrace_argv

__all__ = ["ADMIN_USER", "Login", "Stack", "prepare_stack"]

# The sandbox profile the relay delivers to: an asynchronous EPCIS repository, the usual kind.
SANDBOX_PROFILE = "epcis-async"
RELAY_TARGET = "demo-epcis"
ADMIN_USER = "demo-admin"
# What the demo plant packs: a Vietnamese producer's two products, one per line.
PRODUCER = "Công ty TNHH Thực phẩm Linetrace Demo"
PRODUCT_NAMES = {"line-1": "Cà phê hòa tan 3in1, hộp 20 gói", "line-2": "Nước mắm cá cơm 500 ml"}


@dataclass(frozen=True)
class Login:
    """How to sign in to the dashboard, or why there is nothing to sign in with."""

    user: str | None
    password: str | None
    note: str = ""


@dataclass
class Stack:
    """The broker and the children, in the order they start."""

    broker: LocalBroker
    children: dict[str, Child]
    login: Login
    # An auditor token the demo reads the relay's figures with (None: could not make one).
    monitor_token: str | None = None


def prepare_stack(plan: DemoPlan) -> Stack:
    """Write every config, register the stations and batches; start nothing."""
    broker = LocalBroker.create(
        plan.state / "broker", port=plan.broker_port, log_path=plan.logs / "broker.log"
    )
    logins = {s.id: broker.station(StationId.parse(s.id)) for s in STATIONS}  # no reload yet
    central = broker.service("central")
    central_toml = plan.state / "central.toml"
    central_toml.write_text(
        tomli_w.dumps(
            {
                "state_dir": str(plan.state / "central"),
                "mqtt": _mqtt(plan, central.username, central.password),
                "api": {"host": "127.0.0.1", "port": plan.api_port},
                "relay": _relay_settings(plan),
            }
        )
    )
    config = ["--config", str(central_toml)]
    # Central takes events only from registered stations. The first call also migrates the
    # database; the rest are independent and each costs a process start, so they overlap.
    first, *others = STATIONS
    _central("station", "add", first.id, *config, check=True)
    with ThreadPoolExecutor(max_workers=4) as pool:
        added = [pool.submit(_central, "station", "add", s.id, *config, check=True) for s in others]
        batches = [
            pool.submit(_start_batch, plan, line, config)
            for line in sorted({s.line for s in STATIONS})
        ]
        admin = pool.submit(_create_admin, plan, config)
        monitor = pool.submit(_monitor_token, plan, config)
        for done in added:
            done.result()
        for started in batches:
            started.result()
        login = admin.result()
        monitor_token = monitor.result()
    children = {"sandbox": Child("sandbox", _sandbox_argv(plan), plan.logs / "sandbox.log")}
    if plan.sandbox_port is None:
        children.clear()
    children["camera"] = Child("camera", _camera_argv(plan), plan.logs / "camera.log")
    children["central"] = Child(
        "central", linetrace_argv("central", "run", *config), plan.logs / "central.log"
    )
    for line in sorted({s.line for s in STATIONS}):
        box = _write_box(plan, line, {k: (v.username, v.password) for k, v in logins.items()})
        children[f"edge {line}"] = Child(
            f"edge {line}",
            linetrace_argv("edge", "run", "--config", str(box)),
            plan.logs / f"edge-{line}.log",
        )
    return Stack(broker, children, login, monitor_token)


def _mqtt(plan: DemoPlan, username: str, password: str) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "port": plan.broker_port,
        "username": username,
        "password": password,
    }


def _central(
    *args: str, check: bool = False, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command line, no shell
        linetrace_argv("central", *args),
        check=check,
        input=stdin,
        capture_output=True,
        text=True,
    )


def _start_batch(plan: DemoPlan, line: str, config: list[str]) -> None:
    """An open batch on ``line`` naming the product and lot its footage shows (once: a
    marker in the state folder says a run before this one started it)."""
    marker = plan.state / f"batch-{line}.started"
    if marker.exists():
        return
    product = line_product(line)
    gtin = "0" + product.gtin13
    _central(
        "product", "set", gtin, "--name", PRODUCT_NAMES.get(line, line), "--unit", "box",
        "--producer", PRODUCER, *config,
        check=True,
    )  # fmt: skip
    expiry = f"20{product.expiry[:2]}-{product.expiry[2:4]}-{product.expiry[4:]}"
    _central(
        "batch", "start", f"{SITE}/{line}", "--gtin", gtin, "--lot", product.lot,
        "--expiry", expiry, "--order", f"PO-{line}", *config,
        check=True,
    )  # fmt: skip
    marker.write_text(gtin + " " + product.lot + "\n")


def _create_admin(plan: DemoPlan, config: list[str]) -> Login:
    """The demo's own dashboard admin with a generated password, kept in the state folder."""
    saved = plan.state / "admin-password"
    if saved.exists():
        return Login(ADMIN_USER, saved.read_text().strip())
    password = secrets.token_urlsafe(12)
    added = _central(
        "user", "add", ADMIN_USER, "--role", "admin", "--password-stdin", *config,
        stdin=password + "\n",
    )  # fmt: skip
    if added.returncode != 0:
        return Login(None, None, f"could not create the admin: {added.stderr.strip()[-300:]}")
    saved.write_text(password + "\n")
    saved.chmod(0o600)
    return Login(ADMIN_USER, password)


def _monitor_token(plan: DemoPlan, config: list[str]) -> str | None:
    """A read-only token for the demo's own progress line, kept in the state folder."""
    saved = plan.state / "monitor-token"
    if saved.exists():
        return saved.read_text().strip() or None
    made = _central("token", "create", "demo-progress", "--role", "auditor", *config)
    if made.returncode != 0 or not made.stdout.strip():
        return None
    token = made.stdout.strip().splitlines()[-1]
    saved.write_text(token + "\n")
    saved.chmod(0o600)
    return token


def _write_box(plan: DemoPlan, line: str, logins: dict[str, tuple[str, str]]) -> Path:
    """One edge box per line, one camera per station: how a plant wires it."""
    cameras = []
    for station in (s for s in STATIONS if s.line == line):
        username, password = logins[station.id]
        cameras.append(
            {
                "station": station.station,
                "role": station.role,
                "source": {"spec": plan.camera_url(station), "realtime": True},
                "outbox": {"path": str(plan.state / "edge" / line / f"{station.station}.sqlite")},
                "mqtt": {"username": username, "password": password},
            }
        )
    (plan.state / "edge" / line).mkdir(parents=True, exist_ok=True)
    box = plan.state / f"edge-{line}.toml"
    box.write_text(
        tomli_w.dumps(
            {
                "station": {"site": SITE, "line": line, "utc_offset": UTC_OFFSET},
                "mqtt": {"host": "127.0.0.1", "port": plan.broker_port},
                "cameras": cameras,
            }
        )
    )
    return box


def _relay_settings(plan: DemoPlan) -> dict[str, object]:
    """Central relays every read to the sandbox, as it would to a real EPCIS repository."""
    if plan.sandbox_port is None:
        return {"run": False}
    return {"targets": [{"name": RELAY_TARGET, "kind": "epcis", "url": plan.sandbox_url}]}


def _sandbox_argv(plan: DemoPlan) -> list[str]:
    from linetrace.demo.announce import epcis_schema

    argv = linetrace_argv(
        "portal", "sandbox", "--profile", SANDBOX_PROFILE, "--port", str(plan.sandbox_port)
    )
    schema = epcis_schema()
    return [*argv, "--schema", str(schema)] if schema is not None else argv


def _camera_argv(plan: DemoPlan) -> list[str]:
    return [
        sys.executable, "-m", "linetrace.demo.camera",
        "--port", str(plan.camera_port),
        "--state-dir", str(plan.state / "footage"),
        "--fps", f"{plan.fps:g}",
        "--items-per-second", f"{plan.items_per_second:g}",
        "--items-per-video", str(plan.items_per_video),
    ]  # fmt: skip
