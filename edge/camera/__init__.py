"""The camera stage: frames off a source, stamped once, into a ring the decoders read.

In: a source spec (a camera index, ``/dev/video*``, an RTSP/HTTP stream, a video file, an
image folder) and the ``[source]`` and ``[capture]`` settings. Out: frames
(``frame.Frame``), or, through the capture process, grey frames in a shared-memory
``FrameRing`` whose slot numbers reach the scanner as ``Captured`` messages; a full
ring drops and counts rather than blocks.

* ``frame_source``, ``sources``, ``stills``: what a source is, opening one from its spec, and
  images on disk (one, or a folder of them);
* ``capture`` (the scanner's side: start, receive, hand slots back, restart a hung
  process), ``capture_process`` (the process: stream, drop or wait, reopen with backoff),
  ``capture_messages`` (what crosses between them), ``ring``, ``jpeg_stream`` (Motion-JPEG
  pictures decoded one by one, a corrupt one skipped), ``alarm`` (the camera alarm);
* ``clock`` (the station's UTC offset), ``images`` (grey and halved images),
  ``settings``.

The package itself imports nothing (import from its modules), so that loading its
``settings`` module, as the edge's configuration does, pulls in no heavy dependency.
"""

__all__: list[str] = []
