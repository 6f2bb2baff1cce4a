"""A finished run brought back with its data split, for the analysis commands.

:func:`layerwise.load_run` gives the trained model; the analysis tools also need the test split (and
the training split's range and mean), which :func:`load_run` here adds from the run's config.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..checkpoint import read_metadata
from ..errors import LayerwiseError


@dataclass
class LoadedRun:
    """What the analysis tools need from a run: the trained model, its loss, the data and the config."""

    run_dir: Path
    config: object
    model: object
    loss: object
    data: object

    @property
    def classes(self):
        return [c.item() if hasattr(c, "item") else c for c in self.data.classes]

    def require_classification(self, what):
        """Raise a one-line error unless the run is a classification (saliency, attack, dream need classes)."""
        task = getattr(self.data, "task", "classification")
        if task != "classification":
            raise LayerwiseError(f"{self.run_dir}: {what} needs a classification run; this one is a {task}.")
        return self

    @property
    def is_image(self):
        """True when a sample is an image (C, H, W)."""
        return len(self.data.input_shape) == 3

    @property
    def value_range(self):
        """``(low, high)``, arrays of one sample's shape in the model's (normalized) units: where adversarial and
        dreamed inputs are clipped. For images, the raw pixels' range over the training images, one range for
        every pixel ([0, 1] for images scaled by their maximum), mapped through the normalization; for other
        data, each feature's range over the training split."""
        X = self.data.X_train
        lo, hi = X.min(axis=0), X.max(axis=0)
        if self.is_image:
            raw_lo, raw_hi = self.raw(lo).min(), self.raw(hi).max()
            lo, hi = self.normalized(np.full(lo.shape, raw_lo)), self.normalized(np.full(hi.shape, raw_hi))
        return lo.astype(X.dtype), hi.astype(X.dtype)

    def raw(self, x):
        """``x`` in the data's own units, the normalization undone (float64): what images show."""
        out = np.array(x, dtype=np.float64)
        return out if self.data.normalizer is None else self.data.normalizer.inverse(out)

    def normalized(self, raw):
        """``raw`` values in the model's units (float64): the inverse of :meth:`raw`."""
        out = np.array(raw, dtype=np.float64)
        return out if self.data.normalizer is None else self.data.normalizer(out)


def load_run(run_dir, *, overrides=(), command="the analysis"):
    """A finished run's model (:func:`layerwise.load_run`) with the data split it was trained on.

    Parameters
    ----------
    run_dir : str or Path
        A directory written by ``layerwise train`` (it holds model.safetensors).
    overrides : sequence of "KEY=VALUE"
        For example ``["data.path=/data/mnist"]`` when the data has moved.

    Raises
    ------
    LayerwiseError
        When ``run_dir`` holds no finished run, or its data cannot be read (one line, exit 2).
    """
    from .. import run
    from ..config import load_config
    from ..saved import load_run as load_saved
    from ..saved import moved_plugins
    run.check_run_overrides(overrides, command=command)      # the run's own test split, as evaluate keeps it
    saved = load_saved(run_dir, plugins=moved_plugins(overrides))   # moved plugin files: before the model is built
    config = saved.config
    # the model must be the run's (config.yaml's run id), and the data the data it was trained on, as evaluate checks
    yaml_id = _config_yaml_run_id(Path(run_dir))
    run.check_run_files(run_dir, yaml_id if yaml_id is not None else config.run_id, names=("model.safetensors",))
    if overrides:
        config = load_config(config.to_dict(), overrides, source=str(Path(run_dir) / "config.yaml"), from_run=True)
    data = run.load_data(config)
    weights = Path(run_dir) / "model.safetensors"
    run.check_data_fits(config, data, read_metadata(weights), weights)
    return LoadedRun(Path(run_dir), config, saved.model, saved.loss, data)


def _config_yaml_run_id(run_dir):
    """The run id config.yaml names (None: no such file or key, or not readable: the model's own is used)."""
    import yaml
    try:
        value = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return value.get("run_id") if isinstance(value, dict) else None


def first_per_class(y, n, n_classes):
    """Indices of ``n`` samples taken round-robin over the classes (sorted by class, then order)."""
    by_class = [list(np.flatnonzero(y == c)) for c in range(n_classes)]
    out = []
    while len(out) < n and any(by_class):
        for idx in by_class:
            if idx and len(out) < n:
                out.append(idx.pop(0))
    return np.array(sorted(out, key=lambda i: (y[i], i)), dtype=np.int64)
