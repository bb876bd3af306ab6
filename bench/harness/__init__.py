"""The benchmarks' shared harness: a broker, load, meters, databases and figures.

In: a benchmark's choices (stations, events, rates, databases). Out: the pieces it
composes, each measuring the same way in every benchmark:

- :mod:`.waiting`: waiting on a condition with a deadline;
- :mod:`.broker`: a throwaway Mosquitto (:class:`LocalBroker`) with the stations' and
  central's accounts, and clearing their retained acks between phases;
- :mod:`.events`: read events as an edge sends them, with time-ordered ids;
- :mod:`.wire`: the few MQTT v5 packets the load generator speaks, pre-encoded on asyncio;
- :mod:`.publishers`: simulated stations in publisher processes (raw or paho);
- :mod:`.consumer`: the no-op consumer, the raw broker rate every figure is compared with;
- :mod:`.meters`: CPU time per party (/proc) and the :class:`Phase` a run is reported as;
- :mod:`.phases`: central's ingest timed sustained, at a steady rate and draining a queue;
- :mod:`.relaying`: a sandbox target process, ingest with the relay child, queue samples;
- :mod:`.central_service`: central as the real service (``linetrace central run``);
- :mod:`.soak_stations`: steady-rate stations that time each event until central confirms it;
- :mod:`.traceset`: a bulk-loaded trace data set and the query timings on it;
- :mod:`.searchset`: a bulk-loaded plant of several sites for the search timings;
- :mod:`.plant`: a few lines' lots written straight into a database, for trace timings;
- :mod:`.databases`: a throwaway PostgreSQL database, or an SQLite file;
- :mod:`.decode_truth`: a scan scored against the truth of a generated conveyor video;
- :mod:`.figures`: percentiles and the printed lines with their ratios.

The benchmarks run as scripts (``python bench/NAME.py``), which puts ``bench/`` on the
import path: they import this package as ``harness``.
"""
