"""The scanner: camera, vision and line run together for one station's source.

In: a source (its spec and the ``[pipeline]``, ``[capture]`` and ``[scanner]`` settings).
Out: closed passages in capture order, and the figures of the run (frame rates, decode
times, drops, reads).

* ``scanner`` runs the capture process and the decode worker processes
  (``decode_workers``) and feeds what they read, in frame order, to ``pipeline``, which
  tracks and interprets it (read -> track -> interpret); ``snapshots`` encodes the
  no-reads' pictures on a thread of its own, off that loop;
* ``source_passes`` drives a scanner across passes of a source for the agent (a file
  played again, a camera reopened) and reports its ``figures``; ``settings`` the
  ``[scanner]`` section;
* ``shared_pool`` is one pool of decode workers for several cameras' scanners on one box
  (``worker_rings``: which camera's frame ring a worker reads).

The package itself imports nothing (import from its modules), so that loading its
``settings`` module, as the edge's configuration does, pulls in no heavy dependency.
"""

__all__: list[str] = []
