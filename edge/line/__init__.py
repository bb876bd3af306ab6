"""The line stage: reads across frames on the belt become one passage per item.

In: each frame's :class:`~linetrace.edge.vision.reading.Reading` in frame order (from the
scanner), and the production batch central announces. Out: closed passages
(:class:`~linetrace.edge.line.passage.Passage`: reads, no-reads with a snapshot, pack
events), interpreted as GS1 and checked against the batch, and the contract
:class:`~linetrace.broker.contract.messages.ScanEvent` each one becomes.

* ``track`` follows decoded codes; ``confirm`` confirms a linear read by independent
  second reads where no other frame can (a still item, a single photo); ``regions``,
  ``region_track``, ``label_parts`` and ``paper`` follow located regions and decide the
  no-reads;
* ``gs1`` interprets a decoded symbol; ``checks`` and ``current_batch`` judge it against
  the batch; ``pack`` joins children to their SSCC; ``margin`` measures how close codes
  are to unreadable;
* ``passage`` and ``passage_event`` are what the stage hands on; ``settings`` the
  ``[pack]`` section.

The package itself imports nothing (import from its modules), so that loading its
``settings`` module, as the edge's configuration does, pulls in no heavy dependency.
"""

__all__: list[str] = []
