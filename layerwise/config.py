"""Experiment configs: the schema (pydantic), validation, and loading with ``--set`` overrides.

Every error is a :class:`~layerwise.errors.ConfigError` whose message names the file, the key path,
what was expected and what came, e.g. ``digits.yaml: optimizer.lr must be a number > 0, got -0.1.``
Names (losses, optimizers, schedules, datasets) are checked against their registries when a config
is validated, so names a plugin registers are valid too.
"""

import copy
import functools
import math
import re
import numbers
from pathlib import Path
from typing import Annotated, Any, Optional, Union

import pydantic
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from . import schedules
from .config_errors import UNION_TAGS, describe, did_you_mean, one_of, unknown_key, unknown_name
from .config_yaml import apply_override, parse_yaml, read_text
from .data.datasets import DATASETS, NORMALIZATIONS, TASKS, is_plugin_dataset
from .errors import ConfigError
from .losses import LOSSES
from .optim import OPTIMIZERS, SGD
from .plugins import check_plugin_names, load_plugins
from .registry import is_builtin
from .task import resolve_task
from .sweep.space import SAMPLERS, check_spec

__all__ = ["Config", "validate", "load_config", "optimizer_config", "schedule_config", "did_you_mean"]

MONITORS = ("val_loss", "val_accuracy")
MAX_EPOCHS = 1_000_000
# SGD's constructor needs lr (as PyTorch's does); configs have always defaulted it to 0.01
CONFIG_DEFAULTS = {(SGD, "lr"): 0.01}


def _one_of(choices):
    """A string that must be one of ``choices``."""
    def check(value):
        if value not in choices:
            raise unknown_name(choices)
        return value
    return Annotated[str, AfterValidator(check)]


class _Strict(BaseModel):
    """No coercion, no nan or inf, and an unknown key is an error that lists the known ones."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data):
        if isinstance(data, dict) and cls.model_config.get("extra") == "forbid":
            accepted = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
            for key in data:
                if key not in accepted:
                    raise unknown_key(key, [f.alias or n for n, f in cls.model_fields.items() if not f.exclude])
        return data


def _one_character(value):
    if len(value) != 1:
        raise PydanticCustomError("one_character", "must be one character, such as ',' or ';' or '\\t'")
    return value


# -- schema -----------------------------------------------------------------------------------
class AugmentConfig(_Strict):
    shift: int = Field(0, ge=0)
    rotate: float = Field(0.0, ge=0.0, le=180.0)


def _column(value):
    """``data.label_column``: a column index (an int, not a bool) or a header name."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PydanticCustomError("column", "must be a column index (an integer) or a header name (a string)")
    return value


# the data keys that only some datasets read: one set for any other is refused (it would silently do nothing)
DATA_KEYS_READ_BY = {"path": ("mnist", "fashion_mnist", "npz", "csv"), "download": ("mnist", "fashion_mnist"),
                     "mirrors": ("mnist", "fashion_mnist"), "label_column": ("csv",), "delimiter": ("csv",),
                     # the others have their own test split (an npz file may too: load_dataset says so)
                     "test_fraction": ("digits", "diabetes", "npz", "csv")}


class DataConfig(_Strict):
    dataset: str = "digits"       # checked against DATASETS once the plugins are imported
    path: Optional[str] = None
    download: bool = False
    mirrors: Optional[list[str]] = None
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    normalize: _one_of(NORMALIZATIONS) = "scale"
    label_column: Annotated[Any, AfterValidator(_column)] = -1
    delimiter: Annotated[str, AfterValidator(_one_character)] = ","
    task: Optional[_one_of(TASKS)] = None
    augment: Optional[AugmentConfig] = None


class ModelConfig(_Strict):
    layers: list[dict[str, Any]] = Field(min_length=1)


class EarlyStoppingConfig(_Strict):
    patience: int = Field(5, ge=1)
    monitor: _one_of(MONITORS) = "val_loss"
    min_delta: float = Field(0.0, ge=0.0)


class TrainingConfig(_Strict):
    epochs: int = Field(20, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(64, ge=1)
    eval_batch_size: int = Field(1024, ge=1)
    dtype: _one_of(("float32", "float64")) = "float32"
    early_stopping: Optional[EarlyStoppingConfig] = None
    grad_clip_norm: Optional[float] = Field(None, gt=0.0)
    shuffle: bool = True


class AnalysisConfig(_Strict):
    """What a run records besides its metrics (see layerwise.analysis.stats)."""

    layer_stats: bool = False
    every: Optional[int] = Field(None, ge=1)


def _finite_values(value):
    """Free-form parameters (a baseline's) hold no nan or inf either, at any depth."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            raise PydanticCustomError("finite", "must hold finite numbers only (no .nan, .inf)")
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
    return value


class BaselineSpec(_Strict):
    class_: str = Field(alias="class")
    params: Annotated[dict[str, Any], AfterValidator(_finite_values)] = Field(default_factory=dict)
    name: Optional[str] = None


Baseline = Annotated[Union[Annotated[str, Tag(UNION_TAGS[0])], Annotated[BaselineSpec, Tag(UNION_TAGS[1])]],
                     Discriminator(lambda v: UNION_TAGS[0] if isinstance(v, str) else UNION_TAGS[1])]


def _run_id(value):
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        raise PydanticCustomError("run_id", "must be 32 hex digits, as train writes it")
    return value


def _name_from(path):
    """The default run name: the config file's stem made a plain name (``.hidden.yaml`` -> ``hidden``,
    `` lead.yaml`` -> ``lead``), or ``experiment`` when nothing is left."""
    name = "".join(c if c.isprintable() and c not in "/\\" else "_" for c in path.stem).strip().lstrip(".").strip()
    return name or "experiment"


def _plain_name(value):
    """A run's name becomes a folder name under runs/: one plain name, not a path."""
    if (value.strip() in ("", ".", "..") or value.startswith(".") or value != value.strip()
            or any(c in value for c in "/\\") or not value.isprintable()):
        raise PydanticCustomError("name", "must be a plain name for the run folder (no '/' or '\\', no leading '.', "
                                          "no spaces around it); choose where runs go with --out")
    return value


class SweepConfig(_Strict):
    """The ``sweep:`` section: what ``layerwise sweep`` searches (its options override it); training ignores it.

    ``parameters`` maps a dotted key (as in ``--set``) to a list of values or to ``uniform(a,b)``,
    ``loguniform(a,b)``, ``int(a,b)``, ``int(a,b,log)``.
    """

    method: Optional[_one_of(SAMPLERS)] = None
    metric: Optional[_one_of(MONITORS)] = None
    trials: Optional[int] = Field(None, ge=1)
    prune: bool = False
    parameters: dict[str, Annotated[Any, AfterValidator(check_spec)]] = Field(default_factory=dict)


class Config(_Strict):
    """A whole experiment. Field names are the YAML keys; see docs/config.md.

    ``loss``, ``optimizer`` and ``schedule`` name registered classes, which plugins may add to: they
    are checked by :func:`validate` once the plugins are imported. It replaces ``optimizer`` and
    ``schedule`` (mappings) with the model of the class their ``type`` names.
    """

    # set by train in a run's config.yaml; a new run always gets a new id
    run_id: Optional[Annotated[str, AfterValidator(_run_id)]] = None
    name: Optional[Annotated[str, AfterValidator(_plain_name)]] = None
    seed: int = Field(0, ge=0, le=2**32 - 1)    # what NumPy and scikit-learn take as a seed
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    loss: str = "cross_entropy"
    optimizer: Any = Field(default_factory=dict)
    schedule: Any = Field(default_factory=dict)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    plugins: list[str] = Field(default_factory=list)
    baselines: Optional[list[Baseline]] = None
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    sweep: Optional[SweepConfig] = None

    # where the config came from, for messages and relative paths (not part of the YAML)
    source: str = Field("<config>", exclude=True)
    base_dir: str = Field(".", exclude=True)
    # the --set assignments typed on the command line: a later error (building the model) names the one it is about
    given: tuple = Field((), exclude=True)
    # read back from a run directory (evaluate, resume, predict, the analysis commands): the checks that guard a
    # new training only (NEW_RUN_CHECKS) are not made again, so a run made before one was added still reads
    from_run: bool = Field(False, exclude=True)

    def to_dict(self):
        """The resolved config as plain data (every default filled in), for ``config.yaml``."""
        return self.model_dump(mode="json", by_alias=True, exclude={"sweep"})

    def to_yaml(self):
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def resolve_path(self, path):
        """A path from the config, relative to the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p


# -- optimizers and schedules: the model of the class the registry names ------------------------------
def _bounded(hyper):
    """The pydantic type of one optimizer hyperparameter, bounded as its ``Hyper`` says."""
    if hyper.kind == "bool":
        return bool
    bounds = {"gt" if hyper.low_open else "ge": float(hyper.low)}
    if hyper.high is not None:
        bounds["lt" if hyper.high_open else "le"] = float(hyper.high)
    number = Annotated[float, Field(**bounds)]
    return Annotated[list[number], Field(min_length=2, max_length=2)] if hyper.kind == "pair" else number


@functools.cache
def _optimizer_model(cls):
    """A strict pydantic model of ``cls.HYPERPARAMS``: the constructor's defaults and bounds."""
    fields = {"type": (str, ...)}
    for key, hyper in cls.HYPERPARAMS.items():
        default = CONFIG_DEFAULTS.get((cls, key), hyper.default)
        default = ... if default is None else list(default) if hyper.kind == "pair" else default
        fields[key] = (_bounded(hyper), default)
    return pydantic.create_model(f"{cls.__name__}Config", __base__=_Strict, **fields)


class _Schedule(_Strict):
    type: str
    warmup_epochs: int = Field(0, ge=0)


class _StepSchedule(_Schedule):
    step_size: int = Field(10, ge=1)
    gamma: float = Field(0.1, gt=0.0, le=1.0)


class _ExponentialSchedule(_Schedule):
    gamma: float = Field(0.95, gt=0.0, le=1.0)


class _CosineSchedule(_Schedule):
    min_lr: float = Field(0.0, ge=0.0)


class _PlateauSchedule(_Schedule):
    factor: float = Field(0.1, gt=0.0, lt=1.0)
    patience: int = Field(3, ge=0)
    monitor: _one_of(MONITORS) = "val_loss"
    min_lr: float = Field(0.0, ge=0.0)
    threshold: float = Field(1e-4, ge=0.0)
    threshold_mode: _one_of(("rel", "abs")) = "rel"


class _PluginSchedule(_Schedule):
    """A registered schedule without a model here: its constructor checks the other keys."""

    model_config = ConfigDict(extra="allow")


_SCHEDULE_MODELS = {schedules.Schedule: _Schedule, schedules.StepSchedule: _StepSchedule,
                    schedules.ExponentialSchedule: _ExponentialSchedule,
                    schedules.CosineSchedule: _CosineSchedule, schedules.PlateauSchedule: _PlateauSchedule}


def _section(raw, where, registry, default, model_of, make):
    """Validate a ``{type: name, ...}`` mapping: the name against ``registry`` (as it is now), the
    other keys against ``model_of(cls)``; then ``make(cls, params)`` checks what spans several keys."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping such as {{type: {default}}}, got {raw!r}.")
    kind = raw.get("type", default)
    if not isinstance(kind, str) or kind not in registry:
        raise ConfigError(one_of(f"{where}.type", kind, registry))
    cls = registry[kind]
    try:
        section = model_of(cls).model_validate({**raw, "type": kind})
    except pydantic.ValidationError as e:
        raise ConfigError(describe(e.errors()[0], where)) from None
    params = section.model_dump()
    del params["type"]
    for key, value in (section.model_extra or {}).items():     # a plugin's own keys: no model bounds them
        for v in (value if isinstance(value, (list, tuple)) else [value]):
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{where}.{key} must be a finite number, got {value!r}.")
    try:
        make(cls, params)
    except (TypeError, ValueError) as e:
        hint = (" (every schedule takes warmup_epochs, as layerwise.schedules.Schedule does: "
                "def __init__(self, optimizers, *, epochs, warmup_epochs=0, ...))"
                if "warmup_epochs" in str(e) and where.startswith("schedule") else "")
        raise ConfigError(f"{where}: {e}{hint}") from None
    except Exception as e:    # a plugin's constructor: its own error, on one line
        if is_builtin(cls):
            raise
        raise ConfigError(f"{where}: {cls.__name__}(...) raised {type(e).__name__}: {e}") from e
    return section


def _optimizer(cls, params):
    optimizer = cls(**params)
    lr = getattr(optimizer, "lr", None)
    if not isinstance(lr, numbers.Real) or isinstance(lr, bool):
        raise ValueError(f"{cls.__name__} has no number 'lr': schedules set each optimizer's lr every epoch; "
                         "declare it in HYPERPARAMS, as layerwise.optim.Optimizer does.")
    return optimizer


def optimizer_config(raw, where="optimizer"):
    """The validated model of an optimizer mapping such as ``{type: adam, lr: 0.001}`` (type default sgd)."""
    return _section(raw, where, OPTIMIZERS, "sgd", _optimizer_model, _optimizer)


def schedule_config(raw, where="schedule"):
    """The validated model of a schedule mapping such as ``{type: cosine, min_lr: 0}`` (type default none)."""
    return _section(raw, where, schedules.SCHEDULES, "none", lambda cls: _SCHEDULE_MODELS.get(cls, _PluginSchedule),
                    lambda cls, params: cls([], epochs=1, **params))


# -- validation and loading -------------------------------------------------------------------
def validate(data, source="<config>", base_dir=".", *, from_run=False):
    """A :class:`Config` from plain data, or a ConfigError naming the first problem.

    The config's plugins are imported on the way, so that the names they register are valid.
    """
    if data is None:
        raise ConfigError(f"{source}: the config is empty; it needs at least model.layers.")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys, got {type(data).__name__}.")
    try:
        config = Config.model_validate({**data, "source": source, "base_dir": str(base_dir), "from_run": from_run})
    except pydantic.ValidationError as e:
        raise ConfigError(f"{source}: {describe(e.errors()[0])}") from None
    load_plugins(config)
    try:
        section = lambda d: d.get("type") if isinstance(d, dict) else None    # noqa: E731
        check_plugin_names(config, [("loss", "loss", config.loss), ("dataset", "data.dataset", config.data.dataset),
                                    ("optimizer", "optimizer.type", section(config.optimizer)),
                                    ("schedule", "schedule.type", section(config.schedule)),
                                    *(("layer type", f"model.layers[{i}].type", section(layer))
                                      for i, layer in enumerate(config.model.layers)),
                                    *(("optimizer", f"model.layers[{i}].optimizer.type", section(layer.get("optimizer")))
                                      for i, layer in enumerate(config.model.layers) if isinstance(layer, dict))])
        if config.loss not in LOSSES:
            raise ConfigError(one_of("loss", config.loss, LOSSES))
        if config.data.dataset not in DATASETS:
            raise ConfigError(one_of("data.dataset", config.data.dataset, DATASETS))
        task = resolve_task(config.data.dataset, config.data.task, config.loss)
        config = config.model_copy(update={"data": config.data.model_copy(update={"task": task})})
        config = config.model_copy(update={"optimizer": optimizer_config(config.optimizer),
                                           "schedule": schedule_config(config.schedule)})
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    _check_consistency(config)
    return config


def check_warmup(config):
    """A ConfigError when the warm-up is longer than training: the rate would still be rising at the end (it
    reaches optimizer.lr in the last warm-up epoch). For new runs, and for a resume that sets training.epochs."""
    warmup, epochs = getattr(config.schedule, "warmup_epochs", 0) or 0, config.training.epochs
    if warmup > epochs:
        raise ConfigError(f"{config.source}: schedule.warmup_epochs ({warmup}) is more than training.epochs ({epochs}): "
                          "the rate would still be rising when training ends, and never reach optimizer.lr; give at "
                          f"most {epochs} warm-up epochs (or more epochs).")


def _check_consistency(config):
    src, t = config.source, config.training
    if config.data.task == "regression":
        monitors = [("training.early_stopping.monitor", t.early_stopping and t.early_stopping.monitor),
                    ("schedule.monitor", getattr(config.schedule, "monitor", None))]
        for key, monitor in monitors:
            if monitor == "val_accuracy":
                raise ConfigError(f"{src}: {key} is val_accuracy, but a regression has no accuracy; use val_loss.")
    needs_val = [k for k, on in (("training.early_stopping", t.early_stopping is not None),
                                 (f"schedule ({config.schedule.type})", hasattr(config.schedule, "monitor")))
                 if on]
    if needs_val and config.data.val_fraction == 0:
        raise ConfigError(f"{src}: {needs_val[0]} monitors the validation set, but data.val_fraction is 0; "
                          "set data.val_fraction > 0.")
    if not config.from_run:
        check_warmup(config)
    min_lr, lr = getattr(config.schedule, "min_lr", None), getattr(config.optimizer, "lr", None)
    if isinstance(min_lr, (int, float)) and isinstance(lr, (int, float)) and min_lr > lr:
        raise ConfigError(f"{src}: schedule.min_lr ({min_lr:g}) is above optimizer.lr ({lr:g}); the {config.schedule.type} "
                          "schedule lowers the rate from optimizer.lr towards min_lr. Give a min_lr below it.")
    if config.data.dataset in ("npz", "csv") and not config.data.path:
        raise ConfigError(f"{src}: data.path is required for dataset '{config.data.dataset}'.")
    data, defaults = config.data, DataConfig()
    for key, readers in DATA_KEYS_READ_BY.items():
        if key in ("path", "test_fraction") and is_plugin_dataset(data.dataset):     # a plugin's loader may read it
            continue
        if key == "test_fraction" and config.from_run:      # refused for new runs only (see Config.from_run)
            continue
        if data.dataset not in readers and getattr(data, key) != getattr(defaults, key):
            raise ConfigError(f"{src}: data.{key} does nothing for dataset '{data.dataset}' (only "
                              f"{', '.join(readers)} {'reads' if len(readers) == 1 else 'read'} it); remove it.")
    if config.analysis.every is not None and not config.analysis.layer_stats:
        raise ConfigError(f"{src}: analysis.every sets how often layer statistics are recorded, but "
                          "analysis.layer_stats is off; set analysis.layer_stats: true, or remove analysis.every.")
    for i, layer in enumerate(config.model.layers):
        if "type" not in layer:
            raise ConfigError(f"{src}: model.layers[{i}] needs a 'type', such as {{type: linear, units: 10}}.")


def from_set(message, source, overrides):
    """``message`` with "(from --set KEY=VALUE)" when the key it names, or a key inside the entry it names
    (``model.layers[1]`` for ``model.layers.1.units``), was given on the command line: the file it names (a
    run's config.yaml on --resume) does not hold that value."""
    def canonical(key):
        return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", key.strip())
    named = message[len(source) + 2:] if message.startswith(f"{source}: ") else ""
    entry = re.match(r"[\w\[\]]+(?:\.[\w\[\]]+)*", named)
    entry = entry.group(0) if entry and ("." in entry.group(0) or "[" in entry.group(0)) else None

    def inside_and_named(key, value):
        """``key`` lies inside the entry the message names, and the message is about it: it names the key's last
        part or a word of it (``kernel`` of ``kernel_size``), or its value (``20`` in ``20x20``), or it is a memory
        refusal and the value is a size (a number)."""
        if not entry or not (key.startswith(entry) and key[len(entry):len(entry) + 1] in (".", "[")):
            return False
        said, value = named[len(entry):], value.strip()
        last = re.split(r"[.\[\]]", key)[-2 if key.endswith("]") else -1]
        words = {last, *(w for w in last.split("_") if len(w) >= 4)}
        if any(re.search(rf"(?<![\w.]){re.escape(w)}(?![a-z])", said) for w in words if w):
            return True
        if value and re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", said.replace("x", " ")):
            return True
        return "would need" in said and "available" in said and re.fullmatch(r"[\d\s,\[\]()]+", value) is not None

    for assignment in overrides:
        key, _, value = assignment.partition("=")
        key = canonical(key)
        if key and ((named.startswith(key) and named[len(key):len(key) + 1] in (" ", ":", ".", "["))
                    or named.startswith(f"unknown key '{key}'") or inside_and_named(key, value)):
            return f"{message.rstrip('.')} (from --set {assignment})."
    return message


def _keys_taken(section, kind):
    """The keys a built-in optimizer or schedule type takes (None: unknown here, e.g. a plugin's)."""
    registry = OPTIMIZERS if section == "optimizer" else schedules.SCHEDULES
    try:
        cls = registry[kind]
    except (KeyError, TypeError):
        return None
    if section == "optimizer":
        return set(getattr(cls, "HYPERPARAMS", {})) | {"type"} if is_builtin(cls) else None
    model = _SCHEDULE_MODELS.get(cls)
    return set(model.model_fields) if model is not None else None


_DROP_WARNED = set()     # (section, type, dropped keys) warned of in this process: a sweep loads a config per trial


def _drop_keys_of_a_replaced_type(data, before, overrides, source, typed):
    """``--set optimizer.type=adam`` (or a sweep's ``--param``) on a file written for SGD: the file's keys
    that the new type does not take (``momentum``) are dropped, with a warning, instead of refused; keys
    given with ``--set`` stay, and are checked. ``typed``: the overrides the user gave as ``--set``."""
    import warnings

    from .errors import LayerwiseWarning

    def key(assignment):
        return re.sub(r"\[(-?\d+)\]", r".\1", assignment.partition("=")[0]).strip()
    keys, set_keys = [key(a) for a in overrides], {key(a) for a in typed}
    for section in ("optimizer", "schedule"):
        new, old = data.get(section), before.get(section)
        if f"{section}.type" not in keys or not isinstance(new, dict) or not isinstance(old, dict):
            continue
        if new.get("type") == old.get("type") or (taken := _keys_taken(section, new.get("type"))) is None:
            continue
        given = {k.split(".")[1] for k in keys if k.startswith(f"{section}.") and k.count(".") >= 1}
        dropped = [k for k in new if k not in taken and k not in given]
        for k in dropped:
            del new[k]
        origin = "--set" if f"{section}.type" in set_keys else "the sweep's --param"
        message = (f"{source}: {section}.type is {new['type']} (from {origin}), which does not take "
                   f"{', '.join(f'{section}.{k}' for k in dropped)} from the file: dropped.")
        if dropped and (section, new["type"], tuple(dropped)) not in _DROP_WARNED:   # not per trial of a sweep
            _DROP_WARNED.add((section, new["type"], tuple(dropped)))
            warnings.warn(message, LayerwiseWarning, stacklevel=3)


def load_config(path_or_dict, overrides=(), *, source=None, given=None, from_run=False):
    """Load, override and validate a config from a YAML file path or a dict.

    Parameters
    ----------
    path_or_dict : str, Path or dict
    overrides : sequence of "KEY=VALUE"
        Dotted keys, values parsed as YAML scalars: ``["optimizer.lr=0.05", "training.epochs=3"]``.
    given : sequence of "KEY=VALUE", optional
        The overrides the user typed as ``--set`` (default: all of them), which an error names as such;
        a sweep's trial values are overrides too, but not ``--set``.
    from_run : bool
        The config of a run directory, read back (see ``Config.from_run``).
    """
    if isinstance(path_or_dict, dict):
        data, source, base = copy.deepcopy(path_or_dict), source or "<config>", Path.cwd()
    else:
        path = Path(path_or_dict)
        source = source or path.name
        data, base = parse_yaml(read_text(path), source), path.resolve().parent
    if isinstance(data, dict):
        before = copy.deepcopy(data)
        typed = overrides if given is None else given
        for assignment in overrides:
            apply_override(data, assignment, "--set" if assignment in typed else "--param")
        _drop_keys_of_a_replaced_type(data, before, overrides, source, overrides if given is None else given)
        if data.get("name") is None and not isinstance(path_or_dict, dict):
            data["name"] = _name_from(path)       # also after --set name= (null)
    try:
        config = validate(data, source, base, from_run=from_run)
    except ConfigError as e:
        raise ConfigError(from_set(str(e), source, overrides if given is None else given)) from None
    if from_run and any(a.partition("=")[0].strip() == "training.epochs" for a in overrides):
        try:                # a resume's own --set may shorten training below the warm-up
            check_warmup(config)
        except ConfigError as e:
            raise ConfigError(from_set(str(e), source, overrides if given is None else given)) from None
    update = {"given": tuple(overrides if given is None else given)}
    if config.name is None:
        update["name"] = "experiment"
    return config.model_copy(update=update)
