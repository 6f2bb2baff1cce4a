import numpy as np
import pytest

import layerwise as lw

SMALL = {
    "name": "tiny_digits",
    "seed": 0,
    "data": {"dataset": "digits", "val_fraction": 0.1},
    "model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 32, "init": "he_uniform"},
                         {"type": "relu"}, {"type": "linear", "units": 10}]},
    "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9},
    "training": {"epochs": 6, "batch_size": 32},
}


@pytest.fixture
def small_config():
    """A digits config that trains in a fraction of a second (copy before changing)."""
    return dict(SMALL)


@pytest.fixture(scope="package")
def trained_run(tmp_path_factory):
    """A finished digits run directory (images (N, 1, 8, 8), a Flatten + Linear model), trained once."""
    out = tmp_path_factory.mktemp("analysis") / "run"
    exp = lw.run.fit(SMALL, out=out, progress="off")
    assert exp.summary["test_accuracy"] > 0.9
    return out


@pytest.fixture
def small_model(rng):
    """An untrained float64 image model: Flatten, Linear, Tanh, Linear (N, 1, 4, 4) -> (N, 3)."""
    model = lw.Sequential(lw.Flatten(), lw.Linear(16, 6, rng=rng, dtype=np.float64), lw.Tanh(),
                          lw.Linear(6, 3, rng=rng, dtype=np.float64))
    model.set_optimizer(lw.SGD(lr=0.1))
    return model
