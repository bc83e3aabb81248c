"""Applications built on the library: the photo demo, the ROM experiment.

Import anything below them; the command line (:mod:`posesynth.cli`) calls them.
"""
