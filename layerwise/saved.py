"""A finished run as a predictor: :func:`load_run` and the inputs of ``layerwise predict``.

``model.safetensors`` holds everything needed: the weights, the resolved config, the class names, the
input shape, and the normalization statistics of the training split. Raw inputs, in the units of the
training data, go through the same normalization and the same eval-mode batches as ``evaluate``.
"""

import csv
import io
import math
import shlex
from pathlib import Path

import numpy as np

from ._finite import first_nonfinite_row, nonfinite_words
from .checkpoint import load_model_file, load_weights
from .data.idx import read_idx
from .data.normalize import Normalizer
from .data.tabular import read_csv_inputs
from .errors import DataError

IDX_SUFFIXES = (".idx", "-ubyte", ".idx.gz", "-ubyte.gz")


def _shape_text(shape):
    return f"{tuple(shape)} ({math.prod(shape)} features)"


class SavedRun:
    """A trained model with its input normalization and class names; made by :func:`load_run`.

    Attributes
    ----------
    model : Module
        In eval mode.
    classes : ndarray or None
        ``predict`` returns these values; None for a regression run.
    input_shape : tuple of int
        The shape of one sample.
    normalizer : Normalizer
        Applied to raw inputs, as it was to every split of the training data.
    config : Config
        The resolved config the model was trained with.
    run_id : str or None
    feature_names : list of str or None
        A csv run's feature columns, as its training file's header named them: an input file with a
        header must name the same columns in the same order.
    """

    def __init__(self, path, model, trainer, normalizer, classes, input_shape, config, run_id):
        self.feature_names = None
        self.path, self.model, self._trainer = path, model.eval(), trainer
        self.normalizer, self.classes, self.input_shape = normalizer, classes, tuple(input_shape)
        self.config, self.run_id = config, run_id
        self.loss = trainer.loss
        self.dtype = np.dtype(config.training.dtype)

    def transform(self, X, where="X"):
        """Raw samples -> the normalized float array the model takes, shape (N, *input_shape).

        Accepts ``X`` of shape (N, *input_shape), flat rows (N, features) as in a CSV file, or
        single-channel images without their channel axis (N, H, W) as in an IDX file.
        """
        X = np.asarray(X)
        shape = self.input_shape
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise DataError(f"{where}: must be numeric, got dtype {X.dtype}.")
        if X.ndim >= 2 and X.shape[1:] != shape:
            if X.ndim == 2 and X.shape[1] == math.prod(shape):
                X = X.reshape(len(X), *shape)
            elif shape[0] == 1 and X.shape[1:] == shape[1:]:
                X = X[:, None]
        if X.ndim >= 2 and len(X) == 0:
            raise DataError(f"{where}: no samples.")
        if X.ndim < 2 or X.shape[1:] != shape:
            got = f"samples of shape {_shape_text(X.shape[1:])}" if X.ndim >= 2 else f"shape {X.shape}"
            hint = (" Leave out the label column." if X.ndim >= 2 and math.prod(X.shape[1:]) == math.prod(shape) + 1
                    else "")
            raise DataError(f"{where}: {got}, but {self.path} takes samples of shape {_shape_text(shape)}.{hint}")
        raw = X
        with np.errstate(over="ignore"):
            X = np.array(X, dtype=self.dtype, order="C")
        row = first_nonfinite_row(X)
        if row is not None:
            raise DataError(f"{where}: sample {row} {nonfinite_words(X[row], np.asarray(raw)[row])}.")
        with np.errstate(over="ignore", invalid="ignore"):
            X = self.normalizer(X)
        row = first_nonfinite_row(X)
        if row is not None:
            at = [int(i) for i in np.unravel_index(int(np.argmin(np.isfinite(X[row]))), X[row].shape)]
            raise DataError(f"{where}: sample {row} becomes {X[(row, *at)]} once normalized with the statistics of "
                            f"{self.path}'s training data ({self.normalizer.how}): its feature "
                            f"{at[0] if len(at) == 1 else tuple(at)} is too far outside "
                            "the range the model was trained on.")
        return X

    def outputs(self, X, where="X"):
        """The model's outputs (logits for cross-entropy) for raw samples ``X``."""
        return self._trainer.predict(self.transform(X, where))

    def predict_proba(self, X):
        """Class probabilities (N, n_classes) for raw samples ``X``, columns in the order of ``classes``."""
        if self.classes is None:
            raise DataError(f"{self.path} is a regression run: it predicts values, not class probabilities.")
        return self.loss.proba(self.outputs(X))

    def predict(self, X):
        """The predicted class (a value of ``classes``) of each raw sample in ``X``; for a regression
        run, the model's outputs (N, targets)."""
        outputs = self.outputs(X)
        return outputs if self.classes is None else self.classes[self.loss.labels(outputs)]

    def __repr__(self):
        classes = None if self.classes is None else self.classes.tolist()
        return (f"SavedRun({str(self.path)!r}, input_shape={self.input_shape}, classes={classes}, "
                f"normalize={self.normalizer.how!r})")


def moved_plugins(overrides):
    """The list of paths of ``plugins=[...]`` among ``--set`` overrides (where a run's plugin files are
    now), or None when none is given; a DataError unless it is a list of paths."""
    from .config_yaml import apply_override
    moved = {}
    for assignment in overrides:
        if assignment.partition("=")[0].strip() == "plugins":
            apply_override(moved, assignment)
    plugins = moved.get("plugins")
    if plugins is not None and not (isinstance(plugins, list) and all(isinstance(p, str) for p in plugins)):
        raise DataError(f"--set plugins: expected a list of file paths, got {plugins!r}.")
    return plugins


def load_run(run_dir, *, plugins=None):
    """Load a finished run's model to predict from raw inputs.

    Parameters
    ----------
    run_dir : str or Path
        A run directory written by ``layerwise train`` (or its ``model.safetensors``).
    plugins : list of str, optional
        Where the run's plugin files are now, when they moved since it trained (default: where they were).

    Returns
    -------
    SavedRun
        With ``predict(X)``, ``predict_proba(X)``, ``transform(X)``, ``model`` (eval mode),
        ``classes``, ``input_shape`` and ``normalizer``.

    Raises
    ------
    DataError
        No model file (the run has not finished), or one written before layerwise saved the
        normalization statistics.
    """
    from .build import build_model
    from .config import load_config
    from .plugins import load_plugins
    from .trainer import Trainer
    given = Path(run_dir)
    if not given.exists():
        raise DataError(f"{given}: no such run directory (or model.safetensors file).")
    path, folder = (given / "model.safetensors", given) if given.is_dir() else (given, given.parent)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a model file.")
    if not path.is_file():
        resume = (f"; if it was interrupted, resume it with: layerwise train --resume {shlex.quote(str(folder))}"
                  if (folder / "checkpoint.safetensors").is_file() else "")
        raise DataError(f"{path}: no such file; a run has model.safetensors once it has finished{resume}.")
    weights, inputs, meta = load_model_file(path)
    if "normalize" not in meta:
        raise DataError(f"{path}: holds no normalization statistics (it was written by layerwise "
                        f"{meta.get('layerwise_version', '< 0.2')}); train the run again to predict from raw inputs.")
    shape = meta.get("input_shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise DataError(f"{path}: its input_shape {shape!r} is not a list of sizes: the file was changed after it "
                        "was written.")
    settings = meta["config"]
    if plugins is not None:       # the plugin files moved since training: where they are now
        settings = {**settings, "plugins": [str(p) for p in plugins]}
    config = load_config(settings, source=str(path), from_run=True)
    load_plugins(config)
    model, output_shape = build_model(config.model.layers, meta["input_shape"], dtype=np.dtype(config.training.dtype))
    classes = None if meta.get("classes") is None else np.array(meta["classes"])
    outputs = int(np.prod(output_shape))
    # one output per class, or one output (a sigmoid) for two classes
    if classes is not None and (classes.ndim != 1 or not (classes.size == outputs or (outputs, classes.size) == (1, 2))):
        raise DataError(f"{path}: names {classes.size} classes, but its model gives {outputs} outputs: the file "
                        "was changed after it was written.")
    trainer = Trainer(model, config.loss, eval_batch_size=config.training.eval_batch_size,
                      classification=classes is not None)
    load_weights(model, weights, path)
    normalizer = Normalizer.from_arrays(meta["normalize"], inputs, where=str(path), sample_shape=shape)
    saved = SavedRun(path.parent, model, trainer, normalizer, classes, meta["input_shape"], config,
                     meta.get("run_id"))
    names = meta.get("feature_names")    # a csv run's header (runs saved before it was kept: none)
    saved.feature_names = names if isinstance(names, list) and all(isinstance(n, str) for n in names) else None
    return saved


def read_inputs(path, saved):
    """The samples in an input file for ``layerwise predict``: raw, not yet normalized.

    .npz: the array ``X``. .csv: read as the run's training CSV was (same ``label_column``); a file
    without the label column is read as features only. IDX (.idx, -ubyte, either .gz): the images.
    """
    path = Path(path)
    name = path.name.lower()
    if not path.is_file():
        raise DataError(f"{path}: " + ("is a folder; give an .npz, .csv or IDX file." if path.is_dir()
                                       else "no such file."))
    if name.endswith(".npz"):
        from .data.tabular import check_real, npz_arrays
        arrays = npz_arrays(path)
        if "X" not in arrays:
            raise DataError(f"{path}: no array 'X' (found {', '.join(arrays) or 'none'}); predict reads the "
                            "samples from X.")
        check_real(path, "X", arrays["X"])
        return arrays["X"]
    if name.endswith(".csv"):
        return _read_csv_features(path, saved)
    if name.endswith(IDX_SUFFIXES):
        images = read_idx(path)
        if images.dtype != np.uint8:       # what training reads from IDX too: other types are other data
            raise DataError(f"{path}: expected uint8 images, as layerwise trains on IDX files, got {images.dtype}.")
        return images
    raise DataError(f"{path}: unknown input format; expected .npz (array X), .csv, or IDX images "
                    f"({', '.join(IDX_SUFFIXES)}).")


def _read_csv_features(path, saved):
    """The rows of a CSV file to predict on: features only, or laid out like a csv run's training file."""
    data = saved.config.data
    return read_csv_inputs(path, math.prod(saved.input_shape), data.label_column if data.dataset == "csv" else None,
                           delimiter=data.delimiter, feature_names=getattr(saved, "feature_names", None))


def predictions_csv(saved, X, where="X"):
    """CSV text, one row per sample: ``predicted,p_<class>,...`` (the class and each class's
    probability), or for a regression run ``predicted`` (``predicted_0,...`` for several targets)."""
    outputs = saved.outputs(X, where)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if saved.classes is None:
        values = outputs.reshape(len(outputs), -1)
        writer.writerow(["predicted"] if values.shape[1] == 1 else [f"predicted_{j}" for j in range(values.shape[1])])
        writer.writerows([str(v) for v in row] for row in values)
        return buf.getvalue()
    proba, labels = saved.loss.proba(outputs), saved.classes[saved.loss.labels(outputs)]
    writer.writerow(["predicted", *(f"p_{c}" for c in saved.classes)])
    for label, row in zip(labels, proba):
        writer.writerow([label, *(str(p) for p in row)])
    return buf.getvalue()
