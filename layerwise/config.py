"""Experiment configs: schema (pydantic), safe YAML loading, ``--set`` overrides, one-line errors.

Every error is a :class:`~layerwise.errors.ConfigError` whose message names the file, the key path,
what was expected and what came, e.g. ``digits.yaml: optimizer.lr must be a number > 0, got -0.1.``
"""

import difflib
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from .errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


# -- schema -----------------------------------------------------------------------------------
class DataConfig(_Strict):
    dataset: Literal["digits", "mnist", "fashion_mnist", "npz", "csv"] = "digits"
    path: Optional[str] = None
    download: bool = False
    mirrors: Optional[list[str]] = None
    val_fraction: float = Field(0.1, ge=0, lt=1)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    normalize: Literal["scale", "standardize", "none"] = "scale"
    label_column: Union[int, str] = -1


class ModelConfig(_Strict):
    layers: list[dict[str, Any]] = Field(min_length=1)


class SGDConfig(_Strict):
    type: Literal["sgd"] = "sgd"
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(0.0, ge=0)


class AdamConfig(_Strict):
    type: Literal["adam"]
    lr: float = Field(1e-3, gt=0)
    betas: list[Annotated[float, Field(ge=0, lt=1)]] = Field([0.9, 0.999], min_length=2, max_length=2)
    eps: float = Field(1e-8, ge=0)
    weight_decay: float = Field(0.0, ge=0)


class RMSpropConfig(_Strict):
    type: Literal["rmsprop"]
    lr: float = Field(1e-2, gt=0)
    alpha: float = Field(0.99, ge=0, le=1)
    eps: float = Field(1e-8, ge=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)


class AdagradConfig(_Strict):
    type: Literal["adagrad"]
    lr: float = Field(1e-2, gt=0)
    eps: float = Field(1e-10, ge=0)
    weight_decay: float = Field(0.0, ge=0)


def _by_type(default):
    """Pick a union member by the mapping's ``type``, defaulting when it is left out."""
    def pick(value):
        if isinstance(value, dict):
            return value.get("type", default)
        return getattr(value, "type", None)
    return Discriminator(pick)


def _tagged(*members):
    return Union[tuple(Annotated[m, Tag(typing.get_args(m.model_fields["type"].annotation)[0])] for m in members)]


OptimizerConfig = Annotated[_tagged(SGDConfig, AdamConfig, RMSpropConfig, AdagradConfig), _by_type("sgd")]


class _Schedule(_Strict):
    warmup_epochs: int = Field(0, ge=0)


class NoSchedule(_Schedule):
    type: Literal["none"] = "none"


class StepSchedule(_Schedule):
    type: Literal["step"]
    step_size: int = Field(10, ge=1)
    gamma: float = Field(0.1, gt=0, le=1)


class ExponentialSchedule(_Schedule):
    type: Literal["exponential"]
    gamma: float = Field(0.95, gt=0, le=1)


class CosineSchedule(_Schedule):
    type: Literal["cosine"]
    min_lr: float = Field(0.0, ge=0)


class PlateauSchedule(_Schedule):
    type: Literal["plateau"]
    factor: float = Field(0.1, gt=0, lt=1)
    patience: int = Field(3, ge=0)
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    min_lr: float = Field(0.0, ge=0)


ScheduleConfig = Annotated[_tagged(NoSchedule, StepSchedule, ExponentialSchedule, CosineSchedule, PlateauSchedule),
                           _by_type("none")]


class EarlyStoppingConfig(_Strict):
    patience: int = Field(5, ge=1)
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    min_delta: float = Field(0.0, ge=0)


class TrainingConfig(_Strict):
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1)
    eval_batch_size: int = Field(1024, ge=1)
    dtype: Literal["float32", "float64"] = "float32"
    early_stopping: Optional[EarlyStoppingConfig] = None
    grad_clip_norm: Optional[float] = Field(None, gt=0)
    shuffle: bool = True


class BaselineSpec(_Strict):
    class_: str = Field(alias="class")
    params: dict[str, Any] = Field(default_factory=dict)
    name: Optional[str] = None


class Config(_Strict):
    """A whole experiment. Field names are the YAML keys; see docs/config.md."""

    name: Optional[str] = None
    seed: int = Field(0, ge=0)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    loss: Literal["cross_entropy", "bce_with_logits", "bce", "mse"] = "cross_entropy"
    optimizer: OptimizerConfig = Field(default_factory=SGDConfig)
    schedule: ScheduleConfig = Field(default_factory=NoSchedule)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    plugins: list[str] = Field(default_factory=list)
    baselines: Optional[list[Annotated[Union[Annotated[str, Tag("str")], Annotated[BaselineSpec, Tag("BaselineSpec")]],
                                       Discriminator(lambda v: "str" if isinstance(v, str) else "BaselineSpec")]]] = None

    # where the config came from, for messages and relative paths (not part of the YAML)
    source: str = Field("<config>", exclude=True)
    base_dir: str = Field(".", exclude=True)

    def to_dict(self):
        """The resolved config as plain data (every default filled in), for ``config.yaml``."""
        return self.model_dump(mode="json", by_alias=True)

    def to_yaml(self):
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def resolve_path(self, path):
        """A path from the config, relative to the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p


# -- YAML -------------------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """Safe YAML, plus floats written like ``1e-4`` (YAML 1.1 would read them as strings)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _parse_yaml(text, source):
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        where = f" line {mark.line + 1}:" if mark else ""
        raise ConfigError(f"{source}:{where} {e.problem} (only plain YAML is allowed; "
                          "tags such as !!python are never executed).") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{source}:{where} invalid YAML: {problem}.") from None


def parse_scalar(text):
    """A ``--set`` value parsed as a YAML scalar (``0.1`` -> float, ``true`` -> bool, ``null`` -> None)."""
    return _parse_yaml(text, "--set")


def apply_override(data, assignment):
    """Apply one ``KEY=VALUE`` (dotted key, list items by index) to the raw config dict in place."""
    key, sep, value = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {assignment}: expected KEY=VALUE, such as optimizer.lr=0.05.")
    parts = re.sub(r"\[(-?\d+)\]", r".\1", key).split(".")   # layers[1].units == layers.1.units
    node = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                raise ConfigError(f"--set {assignment}: '{'.'.join(parts[:i]) or key}' is a list of "
                                  f"{len(node)} items; '{part}' is not an index into it.")
            part = int(part)
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {assignment}: '{'.'.join(parts[:i])}' is not a mapping.")
        if last:
            node[part] = parse_scalar(value)
        else:
            if isinstance(node, dict) and not isinstance(node.get(part), (dict, list)):
                node[part] = {}
            node = node[part]
    return data


# -- errors -----------------------------------------------------------------------------------
def did_you_mean(word, choices):
    """`` Did you mean 'x'?`` or an empty string."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""


def _flatten(tp):
    """Strip Annotated and Optional; return the remaining type or the tuple of union members."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) is Union:
        members = [_flatten(m) for m in typing.get_args(tp) if m is not type(None)]
        return members[0] if len(members) == 1 else tuple(members)
    return tp


def _tag_of(member):
    if isinstance(member, type) and issubclass(member, BaseModel) and "type" in member.model_fields:
        return typing.get_args(member.model_fields["type"].annotation)[0]
    return getattr(member, "__name__", str(member))


def _fields_at(loc):
    """Walk ``loc`` through the schema: the clean key path, the model holding the last key, and its field."""
    tp, path, model, field, i = Config, [], None, None, 0
    while i < len(loc):
        tp = _flatten(tp)
        if isinstance(tp, tuple):  # a union: pydantic puts the member's tag in the location
            tp = next((m for m in tp if _tag_of(m) == loc[i]), None)
            i += 1
            continue
        key = loc[i]
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            path.append(str(key))
            model = tp
            field = tp.model_fields.get(key) or next(
                (f for f in tp.model_fields.values() if f.alias == key), None)
            tp = field.annotation if field is not None else None
        else:
            path.append(f"[{key}]" if isinstance(key, int) else str(key))
            args = typing.get_args(tp)
            tp, model, field = (args[-1] if args else None), None, None
        i += 1
    return path, model, field


def _join(path):
    return ".".join(path).replace(".[", "[")


_EXPECT = {
    "greater_than": "a number > {gt}", "greater_than_equal": "a number >= {ge}",
    "less_than": "a number < {lt}", "less_than_equal": "a number <= {le}",
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "a string", "list_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "too_short": "a list of at least {min_length} items", "too_long": "a list of at most {max_length} items",
}


def _format(err, source):
    path, model, field = _fields_at(err["loc"])
    where, kind, ctx, got = _join(path), err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        parent = _join(path[:-1])
        known = [f.alias or n for n, f in model.model_fields.items()
                 if not f.exclude] if model is not None else []
        hint = did_you_mean(path[-1], known) or (f" Known keys{' of ' + parent if parent else ''}: "
                                                 f"{', '.join(known)}." if known else "")
        return f"{source}: unknown key '{where}'.{hint}"
    if kind == "missing":
        return f"{source}: {where} is required."
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        return (f"{source}: {where} must be one of {', '.join(map(repr, choices))}, got {got!r}."
                f"{did_you_mean(got, choices)}")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        choices = re.findall(r"'([^']*)'", ctx.get("expected_tags", ""))
        if kind == "union_tag_not_found":
            return f"{source}: {where}.type is required."
        return (f"{source}: {where}.type must be one of {', '.join(map(repr, choices))}, got "
                f"{ctx.get('tag')!r}.{did_you_mean(ctx.get('tag'), choices)}")
    if kind in _EXPECT:
        expect = _EXPECT[kind].format(**{k: f"{v:g}" if isinstance(v, float) else v for k, v in ctx.items()})
        if field is not None and _flatten(field.annotation) is int:
            expect = expect.replace("a number", "an integer")
        return f"{source}: {where} must be {expect}, got {got!r}."
    return f"{source}: {where}: {err['msg']}, got {got!r}."


def validate(data, source="<config>", base_dir="."):
    """A :class:`Config` from plain data, or a ConfigError naming the first problem."""
    if data is None:
        raise ConfigError(f"{source}: the config is empty; it needs at least model.layers.")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys, got {type(data).__name__}.")
    try:
        config = Config.model_validate({**data, "source": source, "base_dir": str(base_dir)})
    except pydantic.ValidationError as e:
        raise ConfigError(_format(e.errors()[0], source)) from None
    _check_consistency(config)
    return config


def _check_consistency(config):
    src, t = config.source, config.training
    needs_val = [k for k, on in (("training.early_stopping", t.early_stopping is not None),
                                 ("schedule (plateau)", config.schedule.type == "plateau")) if on]
    if needs_val and config.data.val_fraction == 0:
        raise ConfigError(f"{src}: {needs_val[0]} monitors the validation set, but data.val_fraction is 0; "
                          "set data.val_fraction > 0.")
    if config.data.dataset in ("npz", "csv") and not config.data.path:
        raise ConfigError(f"{src}: data.path is required for dataset '{config.data.dataset}'.")
    for i, layer in enumerate(config.model.layers):
        if "type" not in layer:
            raise ConfigError(f"{src}: model.layers[{i}] needs a 'type', such as {{type: linear, units: 10}}.")


def load_config(path_or_dict, overrides=(), *, source=None):
    """Load, override and validate a config from a YAML file path or a dict.

    Parameters
    ----------
    path_or_dict : str, Path or dict
    overrides : sequence of "KEY=VALUE"
        Dotted keys, values parsed as YAML scalars: ``["optimizer.lr=0.05", "training.epochs=3"]``.
    """
    if isinstance(path_or_dict, dict):
        import copy
        data, source, base = copy.deepcopy(path_or_dict), source or "<config>", Path.cwd()
    else:
        path = Path(path_or_dict)
        source = source or path.name
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file.")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read the config: {e}.") from None
        data, base = _parse_yaml(text, source), path.resolve().parent
        if isinstance(data, dict) and data.get("name") is None:
            data["name"] = path.stem
    if isinstance(data, dict):
        for assignment in overrides:
            apply_override(data, assignment)
    config = validate(data, source, base)
    if config.name is None:
        config = config.model_copy(update={"name": "experiment"})
    return config
