"""The edge agent: cameras in, scan events out, nothing lost on the way.

One agent per camera, in stages that hand data one way::

    camera/  ->  vision/  ->  line/  ->  delivery/
    (scanner/ runs camera, vision and line together for one source)

``camera`` gets frames off the source in a capture process; ``vision`` reads one frame;
``line`` follows reads along the belt into one passage per item, interpreted and checked
against the batch; ``scanner`` runs those three for a source (capture and decode
processes); ``delivery`` keeps each event in the outbox until central confirms it. At the
top: ``agent`` wires the stages for ``edge run``, ``config`` composes the stages' settings
sections, ``box`` and ``box_config`` run several cameras (one station each) in one process
with one shared decode pool, and ``cli`` holds the ``linetrace edge`` verbs.
"""
