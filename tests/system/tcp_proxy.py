"""A TCP forwarder the test controls: the network between a client and its server.

The client connects to the proxy's port instead of the server's; the test then breaks
the link in one of two ways and mends it:

* :meth:`TcpProxy.cut` is a link that fails loudly (a pulled cable the host notices, a
  firewall sending resets): every connection is reset and new ones are reset at once;
* :meth:`TcpProxy.blackhole` is a link that fails silently (a dead switch, a route gone):
  connections stay open and new ones are accepted, but not a byte moves either way, so
  only the ends' own keepalives can tell;
* :meth:`TcpProxy.restore` lets bytes flow again. Connections held through a blackhole are
  reset then, as both ends' TCP stacks would have given up on them by the time a
  partition long enough to matter heals.

The proxy runs an asyncio loop in a thread of its own, so the test's thread only calls
the methods above, each of which returns once the change is in force.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

__all__ = ["LinkMode", "TcpProxy"]

# Bytes read from one side in one go; an MQTT session's packets are far smaller.
_CHUNK = 64 * 1024
# How long the test's thread waits for the proxy's loop to carry out a change.
_CONTROL_TIMEOUT_S = 10.0


class LinkMode(StrEnum):
    OPEN = "open"
    CUT = "cut"
    BLACKHOLE = "blackhole"


@dataclass(eq=False)
class _Link:
    """One client connection and, once made, its connection to the server."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None
    held: bool = False  # lived through a blackhole: reset on restore

    def abort(self) -> None:
        for writer in (self.client, self.server):
            if writer is not None:
                writer.transport.abort()


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host:target_port`` until :meth:`close`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0  # client connections taken, whatever the mode
        self._mode = LinkMode.OPEN
        self._links: set[_Link] = set()
        self._loop = asyncio.new_event_loop()
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy")

    @property
    def mode(self) -> LinkMode:
        return self._mode

    @property
    def connections(self) -> int:
        """Client connections open now."""
        return len(self._links)

    def start(self) -> Self:
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        """Reset every connection and every new one until :meth:`restore`."""
        self._call(self._set(LinkMode.CUT))

    def blackhole(self) -> None:
        """Stop moving bytes, closing nothing, until :meth:`restore`."""
        self._call(self._set(LinkMode.BLACKHOLE))

    def restore(self) -> None:
        """Move bytes again; connections held through a blackhole are reset."""
        self._call(self._set(LinkMode.OPEN))

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # -- on the proxy's loop ------------------------------------------------------------

    def _call(self, work: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(work, self._loop).result(_CONTROL_TIMEOUT_S)

    async def _listen(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _set(self, mode: LinkMode) -> None:
        assert self._flowing is not None
        self._mode = mode
        if mode is LinkMode.OPEN:
            for link in [link for link in self._links if link.held]:
                self._drop(link)
            self._flowing.set()
            return
        self._flowing.clear()
        for link in list(self._links):
            if mode is LinkMode.CUT:
                self._drop(link)
            else:
                link.held = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self._mode is LinkMode.CUT:
            writer.transport.abort()
            return
        link = _Link(writer, held=self._mode is LinkMode.BLACKHOLE)
        self._links.add(link)
        assert self._flowing is not None
        await self._flowing.wait()  # a connection made in a blackhole waits (to be reset)
        if link not in self._links:
            return
        try:
            server_reader, link.server = await asyncio.open_connection(*self.target)
        except OSError:
            self._drop(link)
            return
        await asyncio.gather(
            self._pump(link, reader, link.server), self._pump(link, server_reader, writer)
        )

    async def _pump(
        self, link: _Link, source: asyncio.StreamReader, sink: asyncio.StreamWriter
    ) -> None:
        assert self._flowing is not None
        try:
            while True:
                await self._flowing.wait()
                data = await source.read(_CHUNK)
                if not data:
                    break
                await self._flowing.wait()  # read just as the link went silent: held
                if link not in self._links:
                    return
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        self._drop(link)

    def _drop(self, link: _Link) -> None:
        if link in self._links:
            self._links.discard(link)
            link.abort()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            self._drop(link)
        assert self._flowing is not None
        self._flowing.set()  # what waits finds its link gone and ends
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if others:
            await asyncio.wait(others, timeout=_CONTROL_TIMEOUT_S / 2)
