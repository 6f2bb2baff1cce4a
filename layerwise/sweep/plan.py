"""A sweep's plan: the command line merged over the config's ``sweep:`` section, every trial config validated.

Nothing runs before :func:`make_plan` has validated every config the sweep can produce: a bad key,
value or spec is the trainer's one-line ConfigError, and the command exits 2.
"""

import hashlib
import importlib
import itertools
import json
import re
from dataclasses import dataclass

from ..config import SweepConfig, load_config
from ..errors import ConfigError, LayerwiseError
from ..monitor import mode_of
from .space import SAMPLERS, grid_size, parse_param, parse_spec

METRICS = ("val_accuracy", "val_loss")     # what a sweep may choose on: validation only
DEFAULT_TRIALS = 20


def require(module, what="layerwise sweep"):
    """Import ``module`` or raise the one-line error that names the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise LayerwiseError(f"{what} needs {e.name or module}, which is not installed: "
                             "pip install 'layerwise[sweep]'") from None


def show(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@dataclass
class Plan:
    """A validated sweep: the base config (``--set`` applied) and what varies."""

    config: object        # the config file (or dict) as given
    overrides: list       # --set, for every trial
    base: object          # the validated base Config
    space: dict           # key -> Spec
    method: str
    metric: str
    trials: int
    prune: bool

    def trial_config(self, params):
        """The validated config of one trial: the base with ``params`` set as ``--set`` would."""
        sets = [f"{key}={json.dumps(value)}" for key, value in params.items()]
        shown = ", ".join(f"{key}={show(value)}" for key, value in params.items())
        return load_config(self.config, [*self.overrides, *sets], source=f"{self.base.source} with {shown}",
                           given=self.overrides)

    def probe_configs(self):
        """The validated config of every trial a grid can run; of every choice and both bounds of each
        parameter, the others at their first, otherwise (what is checked before a sweep starts)."""
        keys = list(self.space)
        if self.method == "grid":
            combos = itertools.product(*(self.space[k].values for k in keys))
        else:
            first = [self.space[k].probes()[0] for k in keys]
            combos = (first[:i] + [v] + first[i + 1:] for i, k in enumerate(keys) for v in self.space[k].probes())
        for combo in combos:
            yield self.trial_config(dict(zip(keys, combo)))

    @property
    def direction(self):
        return "minimize" if mode_of(self.metric) == "min" else "maximize"

    @property
    def definition(self):
        """What makes this sweep this sweep, as JSON values: the resolved base config, the space, the method
        and the metric (``sweep.json`` keeps it, to say what another sweep in the same folder changed)."""
        from ..run import _resolved
        what = {"config": _resolved(self.base), "space": {k: str(s) for k, s in self.space.items()},
                "method": self.method, "metric": self.metric}
        return json.loads(json.dumps(what, default=str))

    @property
    def identity(self):
        """8 hex digits naming this sweep: a hash of :attr:`definition`."""
        return hashlib.sha256(json.dumps(self.definition, sort_keys=True).encode()).hexdigest()[:8]


def make_plan(config, *, params=(), overrides=(), method=None, trials=None, metric=None, prune=None):
    """Merge the command line over the config's ``sweep:`` section and validate every trial config it
    can produce (every grid combination; every choice and both bounds otherwise). Raises ConfigError."""
    base = load_config(config, overrides)
    section = base.sweep or SweepConfig()
    space, seen = {}, {}
    given = ([(f"--param {a}", *parse_param(a)) for a in params] if params else
             [(f"{base.source}: sweep.parameters.{k}", k, parse_spec(v)) for k, v in section.parameters.items()])
    for where, key, spec in given:
        same = re.sub(r"\[(\d+)\]", r".\1", key)      # model.layers[1].units is model.layers.1.units
        if same in seen:
            raise ConfigError(f"{where}: {key} is already swept by an earlier {'--param' if params else 'entry'}."
                              if seen[same] == key else f"{where}: {key} is {seen[same]}, which is already swept "
                              "(one key, spelled two ways).")
        seen[same] = key
        space[key] = spec
    if not space:
        raise ConfigError(f"{base.source}: nothing to sweep; give --param KEY=SPEC or a sweep.parameters section.")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise ConfigError(f"--trials must be an int >= 1, got {trials!r}.")
    if metric is not None and metric not in METRICS:
        raise ConfigError(f"--metric must be one of {', '.join(METRICS)} (a sweep chooses on validation), got "
                          f"{metric!r}.")
    method_from = "--method" if method else f"{base.source}: sweep.method"
    method = method or section.method or ("grid" if all(s.kind == "choice" for s in space.values()) else "tpe")
    if method not in SAMPLERS:
        raise ConfigError(f"--method must be one of {', '.join(SAMPLERS)}, got {method!r}.")
    ranges = [key for key, spec in space.items() if spec.kind != "choice"]
    if method == "grid" and ranges:
        raise ConfigError(f"{method_from} grid needs a list of values for every parameter, but {ranges[0]} is "
                          f"{space[ranges[0]]}; give a list such as 0.01,0.1 or use the method random or tpe.")
    regression = getattr(base.data, "task", None) == "regression"
    metric = metric or section.metric or ("val_loss" if regression else "val_accuracy")
    if regression and metric == "val_accuracy":
        raise ConfigError(f"{base.source}: the sweep metric is val_accuracy, but a regression has no accuracy; "
                          "use --metric val_loss.")
    if base.data.val_fraction == 0:
        raise ConfigError(f"{base.source}: a sweep chooses on the validation set, but data.val_fraction is 0; "
                          "set it > 0.")
    trials = trials or section.trials or (grid_size(space) if method == "grid" else DEFAULT_TRIALS)
    if method == "grid":
        trials = min(trials, grid_size(space))
    plan = Plan(config, list(overrides), base, space, method, metric, trials,
                bool(section.prune if prune is None else prune))
    from ..build import check_entry      # (loading the config imported its plugins' layer types)
    probes = list(plan.probe_configs())
    for trial in probes:
        if trial.data.val_fraction == 0:
            raise ConfigError(f"{trial.source}: a sweep chooses on the validation set, but data.val_fraction is 0; "
                              "sweep values > 0.")
        for i, spec in enumerate(trial.model.layers):    # each entry's type and keys first: nothing built
            try:
                check_entry(spec, f"model.layers[{i}]")
            except ConfigError as e:
                raise ConfigError(f"{trial.source}: {e}") from None
    _build_probes(base, space, probes)
    return plan


def _build_probes(base, space, probes):
    """Build each probed config's model, so that a value only a layer checks (``units: 0``, a float for an
    int, a kernel larger than its input) fails before the sweep and not in every trial. Built for the base
    config's data without its batch checks (which depend on the split), warnings silenced (the trials give
    theirs). Not done when a ``data.`` key is swept (the samples may differ per trial), nor when the data
    cannot be read here (a Dask sweep's data may be only on the workers): the trials check then."""
    import warnings

    from ..data import KNOWN_SHAPES
    from ..errors import DataError
    from ..run import build, check_something_trains, load_data
    if any(key.startswith("data.") for key in space):
        return
    if base.data.dataset in KNOWN_SHAPES:        # MNIST's shape is fixed: its files need not be here
        from types import SimpleNamespace
        shape, n_classes = KNOWN_SHAPES[base.data.dataset]
        data = SimpleNamespace(input_shape=shape, n_classes=n_classes)
    else:
        try:
            data = load_data(base)
        except DataError:
            return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for trial in probes:
            model, _ = build(trial, data, training=False)   # errors name the trial: "tiny.yaml with ...units=0: ..."
            check_something_trains(trial, model)
