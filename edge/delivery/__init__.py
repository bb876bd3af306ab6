"""The delivery stage: every event kept until central confirms it, then let go.

In: closed passages (stored as contract events in the SQLite outbox, with a gapless
``seq``), central's retained ``ack`` watermark and ``batch`` announcement. Out: scan
events published over MQTT v5 with QoS 1, resent until the watermark covers them; the
retained status message and the Prometheus metrics.

* ``outbox`` stores; ``resend_plan`` says what goes next; ``publisher`` drains the outbox
  through the broker with its ``session`` (paho's callbacks), ``drain`` (the drain thread)
  and ``link_state`` (what the two share); ``mqtt_link`` holds the one-shot broker checks;
* ``status`` gathers the station's figures; ``metrics`` serves them to Prometheus;
  ``settings`` the ``[outbox]``, ``[delivery]``, ``[status]`` and ``[metrics]`` sections.

The package itself imports nothing (import from its modules), so that loading its
``settings`` module, as the edge's configuration does, pulls in no heavy dependency.
"""

__all__: list[str] = []
