"""Initializers: shapes, dtypes, spreads, and seeds."""

import numpy as np
import pytest

from layerwise.init import INITIALIZERS

STD = {"glorot_uniform": np.sqrt(2 / (400 + 300)), "glorot_normal": np.sqrt(2 / (400 + 300)),
       "he_uniform": np.sqrt(2 / 400), "he_normal": np.sqrt(2 / 400), "lecun_normal": np.sqrt(1 / 400),
       "zeros": 0.0, "normal": 0.01}


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_initializers_have_the_documented_spread_and_follow_the_seed(name):
    init = INITIALIZERS[name]
    w = init((400, 300), np.random.default_rng(0), np.float32)
    assert w.shape == (400, 300) and w.dtype == np.float32
    assert w.std() == pytest.approx(STD[name], rel=0.02, abs=1e-9)
    assert np.array_equal(w, init((400, 300), np.random.default_rng(0), np.float32))
    if name != "zeros":
        assert not np.array_equal(w, init((400, 300), np.random.default_rng(1), np.float32))


def test_every_name_has_an_expected_spread():
    assert set(INITIALIZERS) == set(STD)
