import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded Generator for numerics."""
    return np.random.default_rng(0)
