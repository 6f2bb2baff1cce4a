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


def nonfinite_words(converted, source):
    """Words for what makes ``converted`` (``source`` cast to a float dtype, both of one shape) hold NaN or inf:
    "holds NaN or an infinite value", or, when ``source`` is finite there, that a value is too large for the dtype
    (1e39 in float32: the file holds no NaN and no inf)."""
    converted, source = np.asarray(converted), np.asarray(source)
    bad = ~np.isfinite(converted.reshape(-1))
    if source.dtype.kind not in "biufc" or source.shape != converted.shape or not bad.any():
        return "holds NaN or an infinite value"
    values = source.reshape(-1)[bad]
    if source.dtype.kind in "fc" and not np.isfinite(values).all():
        return "holds NaN or an infinite value"
    return (f"holds {values[0]:.4g}, too large for {converted.dtype.name} (whose largest value is "
            f"{float(np.finfo(converted.dtype).max):.4g})")
