"""``linetrace edge ...``: the station's verbs, one module each.

In: the command line. Out: an exit status, and what each verb prints. ``parser`` builds
the ``edge`` part of the parser cheaply (every handler imports what it needs when it
runs); ``scan`` is ``edge scan`` (decode offline, print the passages), ``check`` is
``edge check`` (each precondition of ``edge run``), ``drain`` is ``edge drain`` (deliver
what is left in the outbox, then exit); ``edge run`` is the agent
(:func:`linetrace.edge.agent.serve`).
"""

__all__: list[str] = []
