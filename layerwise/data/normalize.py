"""Input normalization with statistics of the training split, kept so that a saved model can be fed
raw inputs later (:func:`layerwise.load_run`)."""

from dataclasses import dataclass

import numpy as np

from ..errors import DataError

NORMALIZATIONS = ("scale", "standardize", "none")


def _mean_std(X, rows=256):
    """Per-feature mean and std of ``X`` in float64, in row chunks so no full-size temporary is made."""
    mean = X.mean(axis=0, dtype=np.float64)
    sq = np.zeros_like(mean)
    for start in range(0, len(X), rows):
        d = X[start:start + rows] - mean
        sq += np.einsum("i...,i...->...", d, d)
    return mean, np.sqrt(sq / len(X))


@dataclass(frozen=True, repr=False)
class Normalizer:
    """``x -> (x - shift) / scale``, computed in place in the dtype the model was trained in.

    Attributes
    ----------
    how : {"scale", "standardize", "none"}
    shift : ndarray or None
        Of the sample shape; None: nothing is subtracted (images, "none").
    scale : ndarray or None
        Of the sample shape, or 0-d (an image set's known maximum); None: "none".
    """

    how: str
    shift: np.ndarray = None
    scale: np.ndarray = None

    @classmethod
    def fit(cls, how, train, image_max=None):
        """The normalization ``how`` with statistics of ``train`` (N, ...) alone.

        scale: divide by ``image_max`` when given, else min-max per feature; standardize: mean 0,
        std 1 per feature. A feature with no spread gets a scale of 1 (it maps to 0), as in
        scikit-learn's scalers.
        """
        if how == "none":
            return cls(how)
        if how == "scale" and image_max is not None:
            return cls(how, None, np.array(image_max, dtype=train.dtype))
        if how == "scale":
            shift = train.min(axis=0)
            span = train.max(axis=0) - shift
        else:
            shift, span = _mean_std(train)
        span[span == 0] = 1
        return cls(how, shift.astype(train.dtype), span.astype(train.dtype))

    def __call__(self, X):
        """Normalize the float array ``X`` (N, ...) in place; returns it."""
        if self.shift is not None:
            X -= self.shift
        if self.scale is not None:
            X /= self.scale
        return X

    def inverse(self, X):
        """Undo :meth:`__call__` on the float array ``X`` in place (back to the data's own units); returns it."""
        if self.scale is not None:
            X *= self.scale
        if self.shift is not None:
            X += self.shift
        return X

    @property
    def dtype(self):
        """The float dtype of the statistics (the training dtype); None for "none"."""
        return None if self.scale is None else self.scale.dtype

    def arrays(self):
        """The statistics by name, to save with the model."""
        return {k: v for k, v in (("shift", self.shift), ("scale", self.scale)) if v is not None}

    @classmethod
    def from_arrays(cls, how, arrays, where="<model>", sample_shape=None):
        """The Normalizer :meth:`arrays` described; ``where`` names the file in errors. With ``sample_shape``,
        each array must fit one sample of it (the sample shape, or 0-d), be float and finite, and scale non-zero,
        as :meth:`fit` makes them."""
        if how not in NORMALIZATIONS:
            raise DataError(f"{where}: unknown normalization {how!r}; expected one of "
                            f"{', '.join(map(repr, NORMALIZATIONS))}.")
        extra = sorted(set(arrays) - {"shift", "scale"})
        if extra or (how != "none" and "scale" not in arrays):
            raise DataError(f"{where}: the normalization arrays are {sorted(arrays)}; {how!r} needs "
                            f"{'none' if how == 'none' else 'scale (and shift unless an image maximum)'}.")
        if sample_shape is not None:
            for name, a in arrays.items():
                fits = a.shape in ((), tuple(sample_shape))
                if not fits or a.dtype.kind != "f" or not np.isfinite(a).all() or (name == "scale" and not a.all()):
                    raise DataError(f"{where}: the normalization's {name} ({a.dtype}, shape {a.shape}) is not what "
                                    f"layerwise writes for samples of shape {tuple(sample_shape)} (finite floats, a "
                                    "scale without zeros): the file was changed after it was written.")
        return cls(how, arrays.get("shift"), arrays.get("scale"))

    def __repr__(self):
        shape = None if self.scale is None else self.scale.shape
        return f"Normalizer({self.how!r}, shift={'yes' if self.shift is not None else 'no'}, scale shape={shape})"
