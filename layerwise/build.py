"""Build a Sequential model from config layer entries, inferring every input size.

Before a layer is constructed, its parameters, their gradients and optimizer state, and one batch
of activations are counted against the memory available (:class:`~layerwise.memory.MemoryPlan`):
a layer that would not fit is refused by name before any of its arrays exist. First a look-ahead
counts, from the entries alone, every layer whose class tells its parameter and output shapes
(``param_shapes`` and ``output_shape`` classmethods: every built-in layer), up to the first that does
not: a model too large is refused before any layer of it is built. A layer with a
``work_values(input_shape)`` method (Conv2d: its im2col columns) has that work space counted too,
per sample, before the first batch: what it keeps from forward to backward, and the largest of what
exists only during one layer's backward.
"""

import inspect
import math

import numpy as np

from .config import did_you_mean, optimizer_config
from .errors import ConfigError
from .memory import MemoryPlan, state_arrays
from .modules import MODULES, Module, Sequential
from .modules.base import ShapeError
from .optim import OPTIMIZERS, get_optimizer
from .registry import is_builtin

# keys every layer entry may carry besides its own constructor arguments
COMMON_KEYS = ("type", "optimizer", "lr", "frozen")
# constructor arguments the model gives every layer, not the entry: the seed's generator, training.dtype
MODEL_KEYS = {"rng": "seed", "dtype": "training.dtype"}


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


def _takes_bool(cls, key):
    """True when the entry's constructor (``from_config``, else ``__init__``) defaults ``key`` to True or False:
    a value of another type (``bias: "false"``, ``bias: 2``) would be read by its truth, silently."""
    for fn in (cls.from_config, cls.__init__):
        try:
            p = inspect.signature(fn).parameters.get(key)
        except (TypeError, ValueError):
            continue
        if p is not None:
            return isinstance(p.default, bool)
    return False


def _check_required(cls, kind, kwargs, input_shape, where):
    """A class built by ``__init__`` alone (no ``from_config``) gets every required argument from the entry."""
    if cls.from_config.__func__ is not Module.from_config.__func__:
        return
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    missing = [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               and p.name not in kwargs and p.name not in ("rng", "dtype")]
    if missing:
        raise ConfigError(f"{where} ({kind}): {cls.__name__} needs {', '.join(map(repr, missing))}: give "
                          f"{'it' if len(missing) == 1 else 'them'} in the entry, or give {cls.__name__} a "
                          f"from_config(cls, input_shape, ...) classmethod that takes sizes from the input shape "
                          f"{tuple(input_shape)} (docs/config.md, 'Your own layers').")


def _probe_error(module, kind, label, shape, e):
    """The message for a forward that failed on the probe batch: the layer, its input and its parameter shapes."""
    if isinstance(e, ShapeError) or not isinstance(e, ValueError):
        # a message of the module's own, naming what it expected (with N for the probe batch's 2 samples)
        return f"{label} ({kind}): {getattr(e, 'in_config', None) or e}"
    params = ", ".join(f"{k} {v.shape}" for k, v in module.params.items()) or "no parameters"
    return (f"{label} ({kind}) cannot take its input of shape (N, {', '.join(map(str, shape))}), the output of "
            f"the layer before it; its parameters: {params}. Check the sizes in its entry, or infer them "
            "from the input shape with a from_config classmethod.")


def _declared(cls, name):
    """The planning classmethod ``name`` (param_shapes, output_shape, planned_work) of a built-in layer, or
    one a plugin class defines itself; None otherwise: a user subclass of a built-in layer may add
    parameters or change its output, so it is counted once built."""
    method = getattr(cls, name, None)
    return method if method is not None and (is_builtin(cls) or name in vars(cls)) else None


def planned_params(cls, input_shape, kwargs):
    """How many parameters the entry's layer will have, or None when its class cannot tell beforehand."""
    shapes_of = _declared(cls, "param_shapes")
    if shapes_of is None:
        return None
    try:
        shapes = shapes_of(tuple(input_shape), **kwargs)
        dims = [d for shape in shapes.values() for d in shape]
    except (TypeError, ValueError, IndexError):    # a bad entry: the constructor says what is wrong
        return None
    except Exception:    # a plugin's own param_shapes bug: the constructor or forward will say more
        if is_builtin(cls):
            raise
        return None
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
        return None
    return sum(math.prod(shape) for shape in shapes.values())


def check_entry(spec, where):
    """``(cls, constructor kwargs, accepted names or None)`` of a layer entry, or a ConfigError naming its type
    or a key it does not take; builds nothing (``layerwise sweep`` checks every trial's entries this way)."""
    kind = spec.get("type")
    if kind not in MODULES:
        raise ConfigError(f"{where}: unknown layer type {kind!r}.{did_you_mean(kind, MODULES)} "
                          f"Known types: {', '.join(sorted(MODULES))}.")
    cls = MODULES[kind]
    kwargs = {k: v for k, v in spec.items() if k not in COMMON_KEYS}
    for key, value in kwargs.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where}.{key} must be a finite number, got {value!r}.")
    for key in MODEL_KEYS.keys() & kwargs.keys():
        raise ConfigError(f"{where}: '{key}' is not a key of a layer entry: the model sets it for every layer "
                          f"from {MODEL_KEYS[key]}.")
    for key, value in kwargs.items():      # a built-in's (or inherited) bool; a plugin's own it checks itself
        if not isinstance(value, bool) and any(is_builtin(base) and issubclass(base, Module) and base is not Module
                                                and _takes_bool(base, key) for base in cls.__mro__):
            raise ConfigError(f"{where}.{key} must be true or false, got {value!r}.")
    if "frozen" in spec and not isinstance(spec["frozen"], bool):
        raise ConfigError(f"{where}.frozen must be true or false, got {spec['frozen']!r}.")
    accepted = _accepted(cls)
    if accepted is not None:
        own = [k for k in accepted if k not in MODEL_KEYS]
        for key in kwargs:
            if key not in accepted:
                raise ConfigError(f"{where}: unknown key '{key}' for layer '{kind}'."
                                  f"{did_you_mean(key, own) or (' It takes: ' + ', '.join(own) + '.' if own else ' It takes no keys.')}")
    return cls, kwargs, accepted


def build_layer(spec, input_shape, *, rng, dtype, where, plan, state=0):
    """One module from a layer entry such as ``{type: linear, units: 10, init: he_uniform}``.

    The layer's parameters, with their gradients and ``state`` optimizer arrays each, go into
    ``plan`` (a :class:`~layerwise.memory.MemoryPlan`) before the layer is constructed when its class
    can tell their shapes, and right after otherwise.
    """
    kind = spec.get("type")
    cls, kwargs, accepted = check_entry(spec, where)
    _check_required(cls, kind, kwargs, input_shape, where)
    n_params = planned_params(cls, input_shape, kwargs)
    if n_params is not None:
        plan.add_params(n_params, state, f"{where} ({kind}{_sizes(kwargs)})")
    if accepted is not None:
        if "rng" in accepted and "rng" not in kwargs:
            kwargs["rng"] = rng
        if "dtype" in accepted and "dtype" not in kwargs:
            kwargs["dtype"] = dtype
    try:
        module = cls.from_config(tuple(input_shape), **kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where} ({kind}): {e}") from None
    except MemoryError as e:
        raise ConfigError(f"{where} ({kind}): does not fit in memory: {e}.") from None
    except Exception as e:    # a plugin's from_config or constructor: its own error, on one line
        if is_builtin(cls):
            raise
        raise ConfigError(f"{where} ({kind}): {cls.__name__}.from_config raised {type(e).__name__}: {e}") from e
    if not isinstance(module, Module):
        raise ConfigError(f"{where} ({kind}): {cls.__name__}.from_config returned {module!r}, not a module "
                          f"(return cls(...)).")
    if n_params is None:
        plan.add_params(module.n_params(), state, f"{where} ({kind})")
    module.frozen = bool(spec.get("frozen", False))
    given = [k for k in ("lr", "optimizer") if k in spec] + (["frozen"] if module.frozen else [])
    if given and not module.n_params():
        raise ConfigError(f"{where} ({kind}) has no parameters, so its {', '.join(map(repr, given))} would do "
                          "nothing; give it to a layer with weights.")
    return module


def layer_optimizer(spec, default, *, where):
    """The optimizer a layer entry asks for (its own ``optimizer`` mapping, or ``lr``), or None."""
    own, lr = spec.get("optimizer"), spec.get("lr")
    if own is None and lr is None:
        return None
    if own is not None and lr is not None:
        raise ConfigError(f"{where}: give either 'lr' or 'optimizer', not both.")
    if own is None:
        hyper = {k: list(v) if isinstance(v, tuple) else v for k, v in default.hyperparams().items()}
        name = next((k for k, cls in OPTIMIZERS.items() if cls is type(default)), None)
        section = optimizer_config({**hyper, "type": name, "lr": lr}, where)
    else:
        section = optimizer_config(own, f"{where}.optimizer")
    params = section.model_dump()
    return get_optimizer(params.pop("type"), **params)


def planned_output(cls, input_shape, kwargs):
    """One sample's output shape of the entry's layer, or None when its class cannot tell beforehand."""
    shape_of = _declared(cls, "output_shape")
    if shape_of is None:
        return None
    try:
        shape = tuple(shape_of(tuple(input_shape), **kwargs))
    except (TypeError, ValueError, IndexError):     # a bad entry: the constructor says what is wrong
        return None
    except Exception:           # a plugin's own output_shape bug: building it will say more
        if is_builtin(cls):
            raise
        return None
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape):
        return None
    return shape


def _state_of(spec, optimizer, label):
    """How many parameter-sized arrays the entry's optimizer keeps (0 without one, or frozen)."""
    if optimizer is None or spec.get("frozen") is True:
        return 0
    return state_arrays(layer_optimizer(spec, optimizer, where=label) or optimizer)


def _sizes(kwargs):
    """``", units 100"``: the sizes an entry gave, for a memory refusal to name what to change (and the --set
    that gave it)."""
    return "".join(f", {k} {v}" for k, v in kwargs.items() if isinstance(v, (int, list, tuple)) and not isinstance(v, bool))


def _look_ahead(layers, shape, batch_size, dtype, optimizer, where):
    """Count the layers whose sizes follow from their entries, in order, before any is built: a model
    too large for memory is refused (a ConfigError naming the layer) before its first array exists.
    Stops at the first entry it cannot plan (the build then counts it as it goes). ``batch_size``: (size, label)."""
    plan = MemoryPlan(batch_size[0], shape, dtype, label=batch_size[1])
    for i, spec in enumerate(layers):
        label = f"{where}[{i}]"
        if not isinstance(spec, dict) or spec.get("type") not in MODULES:
            return
        try:
            cls, kwargs, _ = check_entry(spec, label)
        except ConfigError:         # the build reports it, after the errors of the entries before it
            return
        n_params, out = planned_params(cls, shape, kwargs), planned_output(cls, shape, kwargs)
        if n_params is None or out is None:
            return
        what = f"{label} ({spec['type']})"
        plan.add_params(n_params, _state_of(spec, optimizer, label), f"{label} ({spec['type']}{_sizes(kwargs)})")
        plan.add_output(out, what)
        work = _planned_work(cls, shape, kwargs)
        if work is not None:
            plan.add_work_space(*work, what)
        shape = out


def _planned_work(cls, input_shape, kwargs):
    """``(kept, passing)`` work values per sample from the entry (Conv2d's ``planned_work``), or None."""
    work_of = _declared(cls, "planned_work")
    if work_of is None:
        return None
    try:
        kept, passing = work_of(tuple(input_shape), **kwargs)
    except Exception:               # a plugin's own bug (a built-in's is ours): building it will say more
        if is_builtin(cls):
            raise
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (kept, passing)):
        return None
    return kept, passing


def build_model(layers, input_shape, *, rng=None, dtype=np.float32, optimizer=None, batch_size=1,
                where="model.layers"):
    """A :class:`Sequential` from layer entries; each layer's input size is inferred from the last.

    Parameters
    ----------
    layers : list of dict
        Entries such as ``{"type": "linear", "units": 128}``.
    input_shape : tuple
        Shape of one sample, e.g. ``(1, 8, 8)``.
    optimizer : Optimizer, optional
        The model's optimizer; layers with their own ``optimizer`` or ``lr`` get theirs. Given, the
        model is returned with its optimizers set, and their state is counted in the memory check.
    batch_size : int or (int, str), default 1
        The largest batch, for the memory check; with a label for its message when it is not the training
        batch (``training.batch_size``).

    Returns
    -------
    model : Sequential
    output_shape : tuple
        Shape of one sample's output.

    Raises
    ------
    ConfigError
        A bad entry, or a model that would not fit in the memory available; the message names the layer.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    model = Sequential()
    shape = tuple(input_shape)
    batch_size, batch_label = batch_size if isinstance(batch_size, tuple) else (batch_size, None)
    _look_ahead(layers, shape, (batch_size, batch_label), dtype, optimizer, where)
    plan = MemoryPlan(batch_size, shape, dtype, label=batch_label)
    probe = np.zeros((2, *shape), dtype=dtype)
    for i, spec in enumerate(layers):
        label = f"{where}[{i}]"
        if not isinstance(spec, dict):
            raise ConfigError(f"{label} must be a mapping such as {{type: relu}}, got {spec!r}.")
        module = build_layer(spec, shape, rng=rng, dtype=dtype, where=label, plan=plan,
                             state=_state_of(spec, optimizer, label))
        module.eval()
        try:
            probe = module.forward(probe)
        except (ValueError, TypeError, RuntimeError) as e:
            raise ConfigError(_probe_error(module, spec["type"], label, shape, e)) from e
        except MemoryError as e:
            raise ConfigError(f"{label} ({spec['type']}): its output does not fit in memory: {e}.") from None
        except Exception as e:    # a plugin's forward: its own error, on one line
            if is_builtin(type(module)):
                raise
            raise ConfigError(f"{label} ({spec['type']}): forward on a batch of 2 samples raised "
                              f"{type(e).__name__}: {e}") from e
        if not isinstance(probe, np.ndarray) or probe.ndim < 1 or len(probe) != 2:
            got = (f"an array of shape {probe.shape}" if isinstance(probe, np.ndarray) else type(probe).__name__)
            raise ConfigError(f"{label} ({spec['type']}): forward on a batch of 2 samples returned {got}; a layer "
                              "returns an array with one row per sample.")
        in_shape, shape = shape, probe.shape[1:]
        plan.add_output(shape, f"{label} ({spec['type']})")
        work = getattr(module, "work_values", None)       # im2col columns and the like, per sample
        if work is not None:
            plan.add_work_space(*work(in_shape), f"{label} ({spec['type']})")
        module.train()
        module._cache = None
        model.append(module)
    if optimizer is not None:
        set_optimizers(model, layers, optimizer, where=where)
    return model, tuple(shape)


def set_optimizers(model, layers, default, *, where="model.layers"):
    """Give the model ``default`` and each layer that asks for one its own optimizer."""
    model.set_optimizer(default)
    for i, (module, spec) in enumerate(zip(model, layers)):
        own = layer_optimizer(spec, default, where=f"{where}[{i}]")
        if own is not None:
            module.set_optimizer(own)
    return model
