"""Run directories: new ones (:func:`make_run_dir`), never overwritten by accident, never mixing two runs.

Every run gets an id (:func:`new_run_id`) that ``config.yaml``, ``checkpoint.safetensors``,
``model.safetensors`` and ``summary.json`` all carry; :func:`check_run_files` finds a file from
another run before ``evaluate`` or ``--resume`` trusts it.
"""

import itertools
import json
import shlex
import uuid
from pathlib import Path

from .checkpoint import read_metadata
from .errors import RunDirError

# the files whose presence means a folder holds a run, in the order they are checked
RUN_FILES = ("config.yaml", "checkpoint.safetensors", "model.safetensors", "summary.json")
# what train, compare and the analysis commands write into a run's folder: all --overwrite deletes
RUN_OUTPUTS = (*RUN_FILES, "metrics.csv", "learning_curves.png", "confusion_matrix.png", "misclassified.png",
               "layer_stats.csv", "layer_stats.png", "compare.json", "compare.md", "compare_*.png", "saliency.png",
               "attack.json", "attack_*.png", "dream.json", "dream.png")


def new_run_id():
    """A fresh run id: 32 hex digits (uuid4)."""
    return uuid.uuid4().hex


def make_run_dir(base):
    """Create a new, empty run directory at ``base`` or, if taken, ``base-2``, ``base-3``, ...

    ``mkdir`` without ``exist_ok`` is atomic, so processes started in the same second (a sweep)
    each get their own directory. Returns the Path created.
    """
    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    for k in itertools.count(1):
        path = base if k == 1 else base.with_name(f"{base.name}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def held_run_files(folder):
    """The :data:`RUN_FILES` present in ``folder`` (none if it does not exist)."""
    return [name for name in RUN_FILES if (Path(folder) / name).exists()]


def check_out_dir(out, *, overwrite=False):
    """Refuse an ``--out`` folder that already holds a run, unless ``overwrite``, and a file."""
    if Path(out).exists() and not Path(out).is_dir():
        raise RunDirError(f"{out} is a file; --out names the run's folder.")
    held = held_run_files(out)
    if not held and Path(out).is_dir():
        others = sorted(p.name for p in Path(out).iterdir())
        if others:     # a folder of other things (configs, notes, "/"): a run would mix into it
            raise RunDirError(f"{out} is not empty ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}) and "
                              "holds no run; give a new or empty folder for the run.")
    if held and not overwrite:
        raise RunDirError(f"{out} already holds a run ({', '.join(held)}); add --overwrite (overwrite=True in Python) "
                          f"to delete it and start afresh, or continue it with: layerwise train --resume "
                          f"{shlex.quote(str(out))}")


def open_out_dir(out, *, overwrite=False, inputs=()):
    """The ``--out`` folder, created, or (``overwrite``) cleared of a run's files (:data:`RUN_OUTPUTS`) if it
    holds a run; any other file in it is kept.

    ``inputs`` are the files the new run reads (config, data, plugins): a folder that contains one
    of them is not emptied.
    """
    out = Path(out)
    check_out_dir(out, overwrite=overwrite)
    if overwrite and held_run_files(out):
        root = out.resolve()
        for f in inputs:
            f = None if f is None else Path(f).resolve()
            if f is not None and f.parent == root and any(f.match(pattern) for pattern in RUN_OUTPUTS):
                raise RunDirError(f"--overwrite would delete {f}, which this run reads; move it out of {out} "
                                  "or choose another --out.")
        for entry in out.iterdir():    # only what a run writes: anything else put there is kept
            if any(entry.match(pattern) for pattern in RUN_OUTPUTS) and not entry.is_dir():
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def _file_run_id(path):
    if path.suffix == ".json":
        try:
            run_id = json.loads(path.read_text()).get("run_id")
        except (OSError, ValueError, AttributeError) as e:
            raise RunDirError(f"{path}: not a readable summary ({e}).") from None
    else:
        run_id = read_metadata(path).get("run_id")
    if run_id is not None and not isinstance(run_id, str):
        raise RunDirError(f"{path}: damaged: its run_id is {run_id!r}, where layerwise writes a string.")
    return run_id


def check_run_files(run_dir, run_id, names=RUN_FILES[1:]):
    """Check that ``names`` in ``run_dir``, where present, belong to the run ``run_id`` of config.yaml.

    A run directory from before run ids (no id in any file) passes. Raises :class:`RunDirError`
    naming the first file that belongs elsewhere.
    """
    run_dir = Path(run_dir)
    ids = {name: _file_run_id(run_dir / name) for name in names if (run_dir / name).is_file()}
    if run_id is None and not any(ids.values()):
        return
    for name, other in ids.items():
        if other != run_id:
            theirs = f"run {other[:8]}" if other else "no run (it has no run id)"
            ours = f"run {run_id[:8]}" if run_id else "no run id"
            raise RunDirError(f"{run_dir / name} belongs to {theirs}, but config.yaml to {ours}: the folder mixes "
                              f"two runs. Start afresh with: layerwise train CONFIG --out {shlex.quote(str(run_dir))} --overwrite")


def resume_note(run_dir, *, epoch, epochs, planned, stopped_early, finished, stopping_set=False):
    """What ``--resume`` does with a checkpoint after ``epoch`` epochs, asked for ``epochs`` (``planned``
    before ``--set``): None to train (or finish) on, or a note when there is nothing to do.

    Raises :class:`RunDirError` when the request cannot be met: fewer epochs than done, or more
    epochs, or another ``training.early_stopping`` (``stopping_set``), after early stopping ended the run.
    """
    if epoch > epochs:
        raise RunDirError(f"{run_dir} already has {epoch} epochs; to train more, --set training.epochs=N "
                          f"with N > {epoch}.")
    if stopped_early and stopping_set:
        raise RunDirError(f"{run_dir} stopped early at epoch {epoch} (training.early_stopping) and trains no "
                          "further: a --set training.early_stopping would change nothing; start a new run with it.")
    if stopped_early and epochs > planned:
        raise RunDirError(f"{run_dir} stopped early at epoch {epoch} (training.early_stopping) and trains no "
                          "further; start a new run to train longer.")
    if finished and (stopped_early or epoch == epochs):
        why = f"stopped early at epoch {epoch}" if stopped_early else f"has all its {epoch} epochs"
        more = "" if stopped_early else f"; to train more, --set training.epochs=N with N > {epoch}"
        return f"{run_dir} {why}: nothing to do{more}."
    return None
