"""The vision stage: one frame's reading, a pure function of the frame and its hints.

In: a grey frame and the hints of labels already read (where they should be now), with
the ``[pipeline]`` settings. Out: a :class:`~linetrace.edge.vision.reading.Reading`, the
located regions of the frame and the symbols decoded in each (or the hint a region was
carried by), in frame pixels.

* ``locate`` finds code-like regions; ``cutouts`` cuts them out upright, magnified or
  sharpened; ``restore`` divides out blur; ``stack`` combines several frames' views of a
  worn 2D symbol; ``decode`` and ``formats`` are the decoder backends (zxing-cpp, zbar);
  ``second_read`` reads a linear symbol's view again with independent decoders;
* ``reader`` tries each region in steps of rising cost; ``reading`` is what it hands on;
* ``snapshot`` is the JPEG of a symbol that never decoded; ``settings`` the section.

The package itself imports nothing (import from its modules), so that loading its
``settings`` module, as the edge's configuration does, pulls in no heavy dependency.
"""

__all__: list[str] = []
