"""Initializers: shapes, dtypes, spreads, seeds, and the memory a draw needs."""

import tracemalloc

import numpy as np
import pytest

from layerwise.init import INITIALIZERS


def std(name, fan_in, fan_out):
    """The documented standard deviation of each initializer."""
    return {"glorot_uniform": np.sqrt(2 / (fan_in + fan_out)), "glorot_normal": np.sqrt(2 / (fan_in + fan_out)),
            "he_uniform": np.sqrt(2 / fan_in), "he_normal": np.sqrt(2 / fan_in), "lecun_normal": np.sqrt(1 / fan_in),
            "standard": np.sqrt(1 / (3 * fan_in)), "zeros": 0.0, "normal": 0.01}[name]


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_initializers_have_the_documented_spread_and_follow_the_seed(name):
    init = INITIALIZERS[name]
    w = init((400, 300), np.random.default_rng(0), np.float32)
    assert w.shape == (400, 300) and w.dtype == np.float32
    assert w.std() == pytest.approx(std(name, 400, 300), rel=0.02, abs=1e-9)
    assert np.array_equal(w, init((400, 300), np.random.default_rng(0), np.float32))
    if name != "zeros":
        assert not np.array_equal(w, init((400, 300), np.random.default_rng(1), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_initializing_a_weight_needs_no_more_memory_than_the_weight(name, dtype):
    tracemalloc.start()
    try:
        w = INITIALIZERS[name]((4000, 300), np.random.default_rng(0), dtype)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a float64 draw cast to float32 would peak at three times the weight
    assert w.dtype == dtype and peak <= w.nbytes + 2**20
    assert w.astype(np.float64).std() == pytest.approx(std(name, 4000, 300), rel=0.02, abs=1e-9)


def test_every_name_has_an_expected_spread():
    for name in INITIALIZERS:
        std(name, 1, 1)
