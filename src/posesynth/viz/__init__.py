"""Figures for people: previews of data sets (matplotlib, Agg, no pyplot state)."""

from posesynth.viz.preview import save_preview

__all__ = ["save_preview"]
