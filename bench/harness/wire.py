"""MQTT v5 on the wire: the load generator's client, on asyncio with pre-encoded packets.

paho spends tens of microseconds of Python per message; on a small server the publishers
would then take the cores central is meant to be measured on. The simulated stations and
the no-op consumer speak the few MQTT v5 packets they need directly: every PUBLISH of a
run is encoded before the clock starts, so sending is a socket write and receiving a
PUBACK is a counter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar, cast

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = [
    "DEFAULT_RECEIVE_MAXIMUM",
    "KEEPALIVE_S",
    "MqttConnection",
    "connect_packet",
    "open_connection",
    "parse_publish",
    "puback_packet",
    "publish_packet",
    "read_varint",
    "receive_maximum",
    "subscribe_packet",
    "varint",
]

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
DISCONNECT_PACKET = b"\xe0\x00"  # DISCONNECT, normal disconnection
KEEPALIVE_S = 60
# The receive maximum MQTT v5 assumes when the CONNACK names none.
DEFAULT_RECEIVE_MAXIMUM = 65_535


def varint(value: int) -> bytes:
    """An MQTT variable byte integer."""
    out = bytearray()
    while True:
        value, digit = value >> 7, value & 0x7F
        out.append(digit | 0x80 if value else digit)
        if not value:
            return bytes(out)


def read_varint(buffer: bytes | bytearray, offset: int) -> tuple[int, int] | None:
    """The variable byte integer at ``offset`` and the offset after it; None if incomplete."""
    value, shift = 0, 0
    while offset < len(buffer):
        byte = buffer[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset
        shift += 7
    return None


def utf8(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + varint(len(body)) + body


def connect_packet(client_id: str, username: str, password: str) -> bytes:
    """CONNECT with clean start and no session expiry: nothing outlives the run."""
    flags = 0x80 | 0x40 | 0x02  # user name, password, clean start
    header = utf8("MQTT") + bytes([5, flags]) + KEEPALIVE_S.to_bytes(2, "big") + b"\x00"
    return packet(CONNECT, 0, header + utf8(client_id) + utf8(username) + utf8(password))


def subscribe_packet(packet_id: int, topic_filter: str) -> bytes:
    """SUBSCRIBE to one filter at QoS 1."""
    body = packet_id.to_bytes(2, "big") + b"\x00" + utf8(topic_filter) + b"\x01"
    return packet(SUBSCRIBE, 0b0010, body)


def publish_packet(
    topic_name: str, payload: bytes, packet_id: int, *, retain: bool = False
) -> bytes:
    """PUBLISH at QoS 1, without properties."""
    body = utf8(topic_name) + packet_id.to_bytes(2, "big") + b"\x00" + payload
    return packet(PUBLISH, 0b0010 | retain, body)


def puback_packet(packet_id: int) -> bytes:
    """PUBACK, success: v5 allows leaving out the reason code and properties."""
    return bytes([PUBACK << 4, 2]) + packet_id.to_bytes(2, "big")


def parse_publish(flags: int, body: bytes) -> tuple[str, int, bytes]:
    """Topic, packet id (0 at QoS 0) and payload of an incoming PUBLISH."""
    end = 2 + int.from_bytes(body[:2], "big")
    topic_name = body[2:end].decode()
    packet_id = 0
    if flags & 0b0110:
        packet_id = int.from_bytes(body[end : end + 2], "big")
        end += 2
    properties = read_varint(body, end)
    if properties is None:
        raise ConnectionError("malformed PUBLISH")
    length, start = properties
    return topic_name, packet_id, body[start + length :]


def receive_maximum(connack: bytes) -> int:
    """The broker's Receive Maximum from a CONNACK body: QoS 1 messages it takes unacked."""
    properties = Properties(PacketTypes.CONNACK)  # type: ignore[no-untyped-call]
    properties.unpack(connack[2:])  # type: ignore[no-untyped-call]
    return int(getattr(properties, "ReceiveMaximum", DEFAULT_RECEIVE_MAXIMUM))


class MqttConnection(asyncio.Protocol):
    """One MQTT v5 connection that subscribes to one filter; subclasses handle the traffic.

    ``ready`` resolves once the subscription is granted. Incoming QoS 1 messages are
    acknowledged in one write per read, after the subclass has seen them.
    """

    def __init__(self, client_id: str, username: str, password: str, topic_filter: str) -> None:
        self.transport: asyncio.Transport | None = None
        self.receive_maximum = DEFAULT_RECEIVE_MAXIMUM
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._hello = connect_packet(client_id, username, password)
        self._filter = topic_filter
        self._buffer = bytearray()
        self._replies = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a TCP connection's
        self.transport.write(self._hello)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        offset, size = 0, len(buffer)
        while offset + 2 <= size:
            header = read_varint(buffer, offset + 1)
            if header is None or header[0] + header[1] > size:
                break
            length, start = header
            first = buffer[offset]
            offset = start + length
            if first >> 4 == PUBACK:  # success leaves the reason code out
                self.on_puback(buffer[start + 2] if length > 2 else 0)
            else:
                self._handle(first, bytes(buffer[start:offset]))
        del buffer[:offset]
        if self._replies:
            self.write(bytes(self._replies))
            self._replies.clear()
        self.after_read()

    def _handle(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if kind == PUBLISH:
            topic_name, packet_id, payload = parse_publish(first & 0x0F, body)
            if packet_id:
                self._replies += puback_packet(packet_id)
            self.on_message(topic_name, payload)
        elif kind == CONNACK:
            if body[1] != 0:
                self.ready.set_exception(ConnectionError(f"CONNECT refused: reason {body[1]}"))
                return
            self.receive_maximum = receive_maximum(body)
            self.write(subscribe_packet(1, self._filter))
        elif kind == SUBACK and not self.ready.done():
            if body[-1] >= 0x80:
                self.ready.set_exception(ConnectionError(f"{self._filter}: refused ({body[-1]})"))
            else:
                self.ready.set_result(None)

    def write(self, data: bytes | memoryview) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(DISCONNECT_PACKET)
            self.transport.close()

    def on_puback(self, reason: int) -> None:
        """The broker answered one of this connection's QoS 1 messages (0: success)."""

    def on_message(self, topic_name: str, payload: bytes) -> None:
        """An application message on the subscribed filter."""

    def after_read(self) -> None:
        """Called once per read, after its packets: the place to send more."""


Conn = TypeVar("Conn", bound=MqttConnection)


async def open_connection(factory: Callable[[], Conn], host: str, port: int) -> Conn:
    _, connection = await asyncio.get_running_loop().create_connection(factory, host, port)
    await asyncio.wait_for(connection.ready, 10.0)
    return connection
