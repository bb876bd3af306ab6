"""Seeded synthetic labels and conveyor footage for the demo, the tests and the benchmarks.

``conveyor`` is the entry point (``ConveyorSpec``, ``plan``, ``render_frames``,
``write_conveyor``, ``Truth``); ``codes`` makes the GS1 data, ``labels`` draws one label,
``degrade`` holds what each degradation level does, ``kinds`` the names. Nothing is
imported here, so ``linetrace synth`` loads without OpenCV until a verb needs it.
"""
