"""The ``posesynth`` command line: a thin typer layer over the library (see ``main.py``).

One module per command (``generate_cmd``, ``info_cmd``); ``errors`` turns expected failures into
one ``error: ...`` line on stderr, ``output`` holds the stdout/stderr and JSON helpers.
"""
