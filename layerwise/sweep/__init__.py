"""Hyperparameter sweeps over config keys: Optuna samplers and pruner, local processes or a Dask cluster.

``layerwise.sweep.sweep(config, params=[...])`` is the Python API of ``layerwise sweep``. The driver
asks Optuna for each trial and tells it the result (ask-and-tell), so workers need only layerwise
and the data. Modules: :mod:`.space` (specs and samplers), :mod:`.driver` (plan, study, loop),
:mod:`.trial` (one trial, in a worker), :mod:`.local` and :mod:`.cluster` (where trials run),
:mod:`.report` (tables, best.yaml, plots).
"""

from .space import SAMPLERS, Spec, parse_spec

__all__ = ["sweep", "SweepResult", "Spec", "parse_spec", "SAMPLERS"]


def __getattr__(name):
    # the driver imports layerwise.run, which imports the config schema, which imports .space:
    # loading it lazily keeps that chain free of cycles
    if name in ("sweep", "SweepResult"):
        from . import driver
        return getattr(driver, name)
    raise AttributeError(f"module 'layerwise.sweep' has no attribute {name!r}")
