"""``generate``'s shards go from the kernels to the store's arrays in one conversion each
(issue 15), the cameras, projection and conversions on the thread that writes them: the
arrays must be those of the data set record, to the byte."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posesynth.body.skeleton import skeleton_names
from posesynth.data.formats.store_io import compact_dtypes, dataset_store_arrays
from posesynth.jobs.generate import generate_job, generate_shard, generate_task, load_config


def _reference(config, task) -> dict[str, np.ndarray]:
    """The store arrays the way they were made before: the data set record (every point
    rounded to the config's dtype and back to float64), then the compact dtypes."""
    return dataset_store_arrays(generate_shard(config, task.seed, task.samples), compact_dtypes(config.dtype))


def _stored(config, task) -> dict[str, np.ndarray]:
    """What the writer stores of ``generate_task``'s shard (its deferred half run here)."""
    made = generate_task(config, task).finish()
    return dict(made.arrays)


def _assert_same_arrays(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        assert got[name].shape == want[name].shape, name
        assert np.ascontiguousarray(got[name]).tobytes() == np.ascontiguousarray(want[name]).tobytes(), name


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    samples=st.integers(1, 40),
    shard_size=st.integers(7, 40),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(["float32", "float64"]),
    model=st.sampled_from(["pinhole", "opencv", "fisheye", "h36m"]),
    skeleton=st.sampled_from(list(skeleton_names())),
)
def test_task_arrays_are_the_data_set_records(samples, shard_size, seed, dtype, model, skeleton) -> None:
    config = load_config(
        samples=samples, shard_size=shard_size, seed=seed, dtype=dtype, camera_model=model, skeleton=skeleton
    )
    for task in generate_job(config).tasks():
        _assert_same_arrays(_stored(config, task), _reference(config, task))


def test_task_arrays_with_narrowed_limits_and_one_activity() -> None:
    # redraws (narrow limits, one activity) and no tilt: the other paths through the kernels
    config = load_config(
        samples=300,
        shard_size=128,
        activities={"squat": 1.0},
        angle_limits_deg={"knee_flexion": (0.0, 30.0)},
        tilt_sd_deg=0.0,
    )
    for task in generate_job(config).tasks():
        arrays = _stored(config, task)
        _assert_same_arrays(arrays, _reference(config, task))
        assert arrays["visibility"].dtype == np.uint8 and set(np.unique(arrays["visibility"])) <= {0, 1}
