"""The one check for NaN and inf in samples, shared by data loading and the trainer (no imports of either)."""

import numpy as np


def first_nonfinite_row(X, block=1 << 22):
    """The index of the first sample (row along axis 0) of ``X`` that holds NaN or inf, or None.

    Float and complex arrays only (others are finite). Checked ``block`` values at a time, so that no mask
    as large as the data is made: the one home of this check (data loading, CSV and npz files, the trainer).
    """
    if X.dtype.kind not in "fc" or not X.size:
        return None
    rows = max(1, block // (X.size // len(X)))
    for start in range(0, len(X), rows):
        ok = np.isfinite(X[start:start + rows]).reshape(min(rows, len(X) - start), -1).all(axis=1)
        if not ok.all():
            return start + int(np.argmin(ok))
    return None
