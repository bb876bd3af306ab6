"""Portal sandbox: a local, real HTTP stand-in for each kind of relay target.

In: HTTP requests from the relay (EPCIS capture documents, or the national portal's
flow), plus fault plans from a test on ``/_sandbox/faults``. Out: the answers a real
target would give (limits, 201/202, capture jobs, 409, 413, 429 ...), what it accepted on
``GET /events``, and its counters on ``/_sandbox/stats``. Used by the tests, the
benchmarks and the demo; never in production. ``profiles.py`` is the plug for each kind.
"""

__all__: list[str] = []
