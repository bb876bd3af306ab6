"""A site's bridge: its account on the central broker, its configuration and its commands.

The whole link (two brokers, TLS, outages) is proven in tests/system/test_multi_site.py;
here each part is checked alone, the account against a real Mosquitto.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.broker.mosquitto import BrokerError, Credentials, Role, add_service, init_broker
from linetrace.broker.mosquitto.bridge import (
    BridgeTls,
    Remote,
    add_bridge,
    bridge_file,
    write_bridge,
)
from linetrace.broker.mosquitto.directory import site_filter
from linetrace.broker.mosquitto.local import LocalBroker
from tests.broker.mqtt_probe import ACCEPTED, NOT_AUTHORIZED, SUCCESS, Probe
from tests.broker.test_cli import broker_verb

SITE = "hcm1"
OURS = StationId(SITE, "L1", "pack-1")
THEIRS = StationId("dn2", "L1", "pack-1")


def probe(broker: LocalBroker, credentials: Credentials) -> Probe:
    return Probe(broker.host, broker.port, credentials)


def test_the_bridge_account_speaks_only_for_its_site(mqtt_broker: LocalBroker) -> None:
    mqtt_broker.stop()  # a stopped broker takes the new account when it starts
    credentials = add_bridge(mqtt_broker.directory, SITE)
    mqtt_broker.start()
    assert (credentials.username, credentials.role) == ("bridge.hcm1", Role.BRIDGE)
    with (
        probe(mqtt_broker, credentials) as bridge,
        probe(mqtt_broker, mqtt_broker.service()) as central,
    ):
        assert bridge.connect() == SUCCESS
        assert central.connect() == SUCCESS
        # Up the link: its own site's events and status, nothing else.
        assert bridge.publish(topic(OURS, Channel.EVENTS), b"{}") in ACCEPTED
        assert bridge.publish(topic(OURS, Channel.STATUS), b"{}") in ACCEPTED
        assert bridge.publish(topic(THEIRS, Channel.EVENTS), b"{}") == NOT_AUTHORIZED
        assert bridge.publish(topic(OURS, Channel.ACK), b"{}") == NOT_AUTHORIZED
        assert bridge.publish(topic(OURS, Channel.BATCH), b"{}") == NOT_AUTHORIZED
        # Down the link: its own site's batch and ack (retained), another site's never.
        for station in (OURS, THEIRS):
            ack = topic(station, Channel.ACK)
            assert central.publish(ack, b'{"seq": 1}', retain=True) in ACCEPTED
        assert bridge.subscribe(site_filter(SITE, Channel.ACK)) == 1
        bridge.subscribe(topic(THEIRS, Channel.ACK))  # granted or refused: nothing comes
        received = bridge.next_message()
        assert (received.topic, received.retain) == (topic(OURS, Channel.ACK), True)
        bridge.assert_silent()


@pytest.mark.parametrize("site", ["a+b", "a/b", "#", "", ".hcm"])
def test_a_bridge_needs_a_site_that_is_one_topic_level(tmp_path: Path, site: str) -> None:
    init_broker(tmp_path)
    with pytest.raises(BrokerError):
        add_bridge(tmp_path, site)


def test_a_bridge_role_needs_a_bridge_name(tmp_path: Path) -> None:
    init_broker(tmp_path)
    with pytest.raises(BrokerError, match=r"bridge\.SITE"):
        add_service(tmp_path, "central-2", Role.BRIDGE)


def site_broker(tmp_path: Path) -> tuple[Path, Credentials, BridgeTls]:
    site, central = tmp_path / "site", tmp_path / "central"
    init_broker(site)
    init_broker(central)
    ca = tmp_path / "ca.pem"
    ca.write_text("a CA certificate\n")
    return site, add_bridge(central, SITE), BridgeTls(ca=ca)


def test_the_bridge_file_is_private_and_carries_the_four_channels(tmp_path: Path) -> None:
    site, credentials, tls = site_broker(tmp_path)
    path = write_bridge(
        site, site=SITE, remote=Remote.parse("central.example"), credentials=credentials, tls=tls
    )
    assert path == bridge_file(site, "central")
    assert f"include_dir {path.parent}" in (site / "mosquitto.conf").read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    lines = path.read_text().splitlines()
    for line in [
        "address central.example:8883",
        f"remote_username {credentials.username}",
        f"remote_clientid {credentials.username}",
        "cleansession false",
        "local_cleansession false",
        f"bridge_cafile {tls.ca}",
        "bridge_insecure false",
        "topic linetrace/v1/hcm1/+/+/events out 1",
        "topic linetrace/v1/hcm1/+/+/status out 1",
        "topic linetrace/v1/hcm1/+/+/batch in 1",
        "topic linetrace/v1/hcm1/+/+/ack in 1",
    ]:
        assert line in lines
    assert sum(line.startswith("topic ") for line in lines) == 4


def test_the_bridge_takes_only_its_own_sites_credentials(tmp_path: Path) -> None:
    site, credentials, tls = site_broker(tmp_path)
    remote = Remote("central.example", 8883)
    service = credentials.model_copy(update={"role": Role.CENTRAL})
    for wrong_site, wrong in [("dn2", credentials), (SITE, service)]:
        with pytest.raises(BrokerError, match="linetrace broker add-bridge"):
            write_bridge(site, site=wrong_site, remote=remote, credentials=wrong, tls=tls)
    half = BridgeTls(ca=tls.ca, cert=tls.ca)
    with pytest.raises(BrokerError, match="cert and key"):
        write_bridge(site, site=SITE, remote=remote, credentials=credentials, tls=half)
    assert not bridge_file(site, "central").exists()


@pytest.mark.parametrize(
    ("text", "tls", "expected"),
    [
        ("central.example", True, Remote("central.example", 8883)),
        ("central.example", False, Remote("central.example", 1883)),
        ("10.0.0.5:18883", True, Remote("10.0.0.5", 18883)),
        ("[fd00::5]:8883", True, Remote("fd00::5", 8883)),
        ("[fd00::5]", True, Remote("fd00::5", 8883)),
    ],
)
def test_remote_addresses(text: str, tls: bool, expected: Remote) -> None:
    assert Remote.parse(text, tls=tls) == expected


@pytest.mark.parametrize("text", ["", ":8883", "central:", "central:x", "central:70000", "fd00::5"])
def test_remote_addresses_refused(text: str) -> None:
    with pytest.raises(BrokerError):
        Remote.parse(text)


def test_the_two_commands_make_the_account_then_the_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site, central, ca = tmp_path / "site", tmp_path / "central", tmp_path / "ca.pem"
    ca.write_text("a CA certificate\n")
    assert broker_verb("init", site) == 0
    assert broker_verb("init", central) == 0
    assert broker_verb("add-bridge", central, SITE) == 0
    account = tmp_path / "bridge.json"
    account.write_text(capsys.readouterr().out)
    assert Credentials.model_validate_json(account.read_text()).username == "bridge.hcm1"
    link: list[str | Path] = ["bridge", site, "--site", SITE, "--remote", "central.example:8884"]
    assert broker_verb(*link, "--credentials", account) == 2  # neither TLS nor --no-tls
    assert broker_verb(*link, "--credentials", account, "--tls-ca", ca) == 0
    assert "address central.example:8884" in bridge_file(site, "central").read_text()
    assert broker_verb(*link, "--credentials", tmp_path / "missing.json", "--no-tls") == 1
