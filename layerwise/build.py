"""Build a Sequential model from config layer entries, inferring every input size."""

import inspect

import numpy as np

from .config import did_you_mean
from .errors import ConfigError
from .modules import MODULES, Module, Sequential
from .optim import get_optimizer

# keys every layer entry may carry besides its own constructor arguments
COMMON_KEYS = ("type", "optimizer", "lr", "frozen")


def _accepted(cls):
    """Names of the keyword arguments a layer entry may give, or None if it takes any."""
    fn = cls.from_config if cls.from_config.__func__ is not Module.from_config.__func__ else cls.__init__
    names = []
    for i, p in enumerate(inspect.signature(fn).parameters.values()):
        if p.kind is p.VAR_KEYWORD:
            return None
        if i == 0 and fn is not cls.__init__ and p.name == "input_shape":
            continue
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", "input_shape"):
            names.append(p.name)
    return names


def build_layer(spec, input_shape, *, rng, dtype, where):
    """One module from a layer entry such as ``{type: linear, units: 10, init: he_uniform}``."""
    kind = spec.get("type")
    if kind not in MODULES:
        raise ConfigError(f"{where}: unknown layer type {kind!r}.{did_you_mean(kind, MODULES)} "
                          f"Known types: {', '.join(sorted(MODULES))}.")
    cls = MODULES[kind]
    kwargs = {k: v for k, v in spec.items() if k not in COMMON_KEYS}
    accepted = _accepted(cls)
    if accepted is not None:
        for key in kwargs:
            if key not in accepted:
                raise ConfigError(f"{where}: unknown key '{key}' for layer '{kind}'."
                                  f"{did_you_mean(key, accepted) or ' It takes: ' + ', '.join(accepted) + '.'}")
        if "rng" in accepted and "rng" not in kwargs:
            kwargs["rng"] = rng
        if "dtype" in accepted and "dtype" not in kwargs:
            kwargs["dtype"] = dtype
    try:
        module = cls.from_config(tuple(input_shape), **kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where} ({kind}): {e}") from None
    if spec.get("frozen", False) not in (True, False):
        raise ConfigError(f"{where}.frozen must be true or false, got {spec['frozen']!r}.")
    module.frozen = bool(spec.get("frozen", False))
    return module


def layer_optimizer(spec, default, *, where):
    """The optimizer a layer entry asks for (its own ``optimizer`` mapping, or ``lr``), or None."""
    own, lr = spec.get("optimizer"), spec.get("lr")
    if own is None and lr is None:
        return None
    from .config import validate  # the same schema as the top-level optimizer
    if own is not None and lr is not None:
        raise ConfigError(f"{where}: give either 'lr' or 'optimizer', not both.")
    if own is None:
        hyper = {k: list(v) if isinstance(v, tuple) else v for k, v in default.hyperparams().items()}
        hyper.update(type=default.name, lr=lr)
    else:
        hyper = own
    try:
        opt = validate({"model": {"layers": [{"type": "x"}]}, "optimizer": hyper}).optimizer
    except ConfigError as e:
        detail = str(e).split(": ", 1)[1]
        raise ConfigError(f"{where}.{detail[len('optimizer.'):] if own is None else detail}") from None
    params = opt.model_dump()
    return get_optimizer(params.pop("type"), **params)


def build_model(layers, input_shape, *, rng=None, dtype=np.float32, where="model.layers"):
    """A :class:`Sequential` from layer entries; each layer's input size is inferred from the last.

    Parameters
    ----------
    layers : list of dict
        Entries such as ``{"type": "linear", "units": 128}``.
    input_shape : tuple
        Shape of one sample, e.g. ``(1, 8, 8)``.

    Returns
    -------
    model : Sequential
    output_shape : tuple
        Shape of one sample's output.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    model = Sequential()
    shape = tuple(input_shape)
    probe = np.zeros((2, *shape), dtype=dtype)
    for i, spec in enumerate(layers):
        label = f"{where}[{i}]"
        if not isinstance(spec, dict):
            raise ConfigError(f"{label} must be a mapping such as {{type: relu}}, got {spec!r}.")
        module = build_layer(spec, shape, rng=rng, dtype=dtype, where=label)
        module.eval()
        try:
            probe = module.forward(probe)
        except (ValueError, TypeError, RuntimeError) as e:
            raise ConfigError(f"{label} ({spec['type']}): {e}") from None
        shape = probe.shape[1:]
        module.train()
        module._cache = None
        model.append(module)
    return model, tuple(shape)


def set_optimizers(model, layers, default, *, where="model.layers"):
    """Give the model ``default`` and each layer that asks for one its own optimizer."""
    model.set_optimizer(default)
    for i, (module, spec) in enumerate(zip(model, layers)):
        own = layer_optimizer(spec, default, where=f"{where}[{i}]")
        if own is not None:
            module.set_optimizer(own)
    return model
