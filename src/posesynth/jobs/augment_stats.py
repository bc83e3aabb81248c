"""The statistics of an augment job: per-shard counts and angle histograms on a fixed grid,
merged over shards in any order (so the summary is the same on every executor)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["BIN_DEG", "angle_counts", "merge_shard_stats"]

#: Histogram bins of the summary, degrees (on a fixed grid, so shards add up).
BIN_DEG = 15.0


def angle_counts(before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Per angle: counts over :data:`BIN_DEG` bins of a fixed grid (from bin ``lo_bin``),
    before and after, their exact ranges in degrees and whether any value changed."""
    out: dict[str, Any] = {}
    for name, a_rad in after.items():
        if len(a_rad) == 0:
            continue
        b, a = np.rad2deg(before[name]), np.rad2deg(a_rad)
        bins_b, bins_a = np.floor(b / BIN_DEG).astype(np.int64), np.floor(a / BIN_DEG).astype(np.int64)
        lo = int(min(bins_b.min(), bins_a.min()))
        hi = int(max(bins_b.max(), bins_a.max()))
        out[name] = {
            "lo_bin": lo,
            "before": np.bincount(bins_b - lo, minlength=hi - lo + 1).tolist(),
            "after": np.bincount(bins_a - lo, minlength=hi - lo + 1).tolist(),
            "before_range_deg": [float(b.min()), float(b.max())],
            "after_range_deg": [float(a.min()), float(a.max())],
            "changed": not np.array_equal(a, b),
        }
    return out


def merge_shard_stats(stats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The counts and angle histograms of a whole job from those of its shards (any order)."""
    merged: dict[str, Any] = {
        key: sum(int(s[key]) for s in stats) for key in ("variants", "rejected_rom", "rejected_collision", "samples")
    }
    per_name: dict[str, list[Mapping[str, Any]]] = {}
    for s in stats:
        for name, h in s["angles"].items():
            per_name.setdefault(name, []).append(h)
    angles: dict[str, Any] = {}
    for name, hs in per_name.items():
        if not any(h["changed"] for h in hs):
            continue
        lo = min(h["lo_bin"] for h in hs)
        hi = max(h["lo_bin"] + len(h["before"]) for h in hs)
        counts = {"before": np.zeros(hi - lo, np.int64), "after": np.zeros(hi - lo, np.int64)}
        for h in hs:
            for key, total in counts.items():
                total[h["lo_bin"] - lo : h["lo_bin"] - lo + len(h[key])] += h[key]
        angles[name] = {
            "bin_edges_deg": [BIN_DEG * k for k in range(lo, hi + 1)],
            "before": counts["before"].tolist(),
            "after": counts["after"].tolist(),
            **{
                f"{key}_range_deg": [
                    round(min(h[f"{key}_range_deg"][0] for h in hs), 2),
                    round(max(h[f"{key}_range_deg"][1] for h in hs), 2),
                ]
                for key in ("before", "after")
            },
        }
    merged["angles"] = angles
    return merged
