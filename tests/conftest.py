import os

# scikit-learn's estimator checks include check_array_api_input (array API dispatch on, NumPy inputs,
# results unchanged); it runs only when SciPy reads this variable at import, so set it before any import.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded Generator for numerics."""
    return np.random.default_rng(0)
