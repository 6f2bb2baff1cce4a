"""The Module contract: explicit forward, backward and update; observers (hooks)."""

import functools
import inspect
import itertools
import threading
import types
import weakref

import numpy as np

from .._heap import keep_freed_memory

_hook_ids = itertools.count()


class ShapeError(ValueError):
    """A module got an input of a shape it cannot take; the message names the shape it expected and
    the one it got. Raised by ``Module._expect_shape``; the model builder passes the message on as is,
    or, for one made by :func:`shape_refusal`, writes its probe batch as N (``in_config``)."""

    in_config = None


class HookHandle:
    """What ``register_forward_hook`` and ``register_backward_hook`` return; ``.remove()`` detaches."""

    def __init__(self, hooks, key):
        self._hooks, self._key = hooks, key

    def remove(self):
        """Detach the hook (removing twice is harmless)."""
        self._hooks.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


@functools.lru_cache(maxsize=None)
def _takes_input_grad(cls):
    return "input_grad" in inspect.signature(cls.backward).parameters


def float_input(x, dtype=np.float64):
    """``x`` as the array a layer computes on: a nested list as NumPy reads it, integer and bool arrays as
    ``dtype`` (a layer with parameters gives theirs; float64 otherwise, which holds every int32 exactly).
    Float arrays pass unchanged."""
    if type(x) is not np.ndarray:
        x = np.asarray(x)
    if x.dtype.kind in "biu":
        x = x.astype(dtype)
    return x


def _held_modules(name, value):
    """``(where, module)`` for a module in an attribute, or in a list, tuple or dict in one."""
    if isinstance(value, Module):
        yield name, value
    elif isinstance(value, (list, tuple)):
        yield from ((f"{name}[{i}]", v) for i, v in enumerate(value) if isinstance(v, Module))
    elif isinstance(value, dict):
        yield from ((f"{name}[{k!r}]", v) for k, v in value.items() if isinstance(v, Module))


def check_initialized(model):
    """An AttributeError naming the first module of ``model``'s tree whose ``__init__`` did not call
    ``super().__init__()`` (it has no ``params``, grads or optimizer): said once, where a model is taken in."""
    for path, m in model.named_modules():
        if "params" not in vars(m):
            where = f" (module {path.rstrip('.')})" if path else ""
            raise AttributeError(f"{type(m).__name__}{where} has no params: {type(m).__name__}.__init__ must call "
                                 "super().__init__() first.")


def _check_no_shared_parameters(model):
    """The ValueError of :meth:`Module.check_children` for a parameter array two modules hold."""
    by_buffer = {}
    for name, m, key in model.named_parameters():
        p = m.params[key]
        if not isinstance(p, np.ndarray):
            continue
        owner = p if p.base is None else p.base
        for other, q in by_buffer.get(id(owner), ()):
            if np.shares_memory(p, q):
                raise ValueError(
                    f"Parameters {other} and {name} are the same array (or views of one): each module steps its own "
                    "parameters, so it would be stepped twice and counted twice. To tie weights, keep the array in one "
                    "module and let the other use it through a reference to that module (read its params, add into "
                    "its grads), as a tied decoder does with the encoder's Linear.")
        by_buffer.setdefault(id(owner), []).append((name, p))


def shape_refusal(owner, want, x, ndim=None, channels=None):
    """A :class:`ShapeError` "Conv2d expects (N, 3, H, W), got (3, 8, 8).": the shape given as it is, and, when it
    is one sample without its batch axis (``ndim - 1`` axes, ``channels`` first), how to make a batch of it."""
    shape = tuple(np.shape(x))
    hint = ""
    if ndim is not None and len(shape) == ndim - 1 and shape and (channels is None or shape[0] == channels):
        hint = " One sample without its batch axis? Pass x[None], a batch of one."
    err = ShapeError(f"{owner} expects {want}, got {shape}.{hint}")
    err.in_config = f"{owner} expects {want}, got (N{''.join(f', {d}' for d in shape[1:])})."
    return err


def grad_like_output(owner, grad_y, shape):
    """``grad_y``, the gradient of ``owner``'s last output, when it has that output's ``shape`` (an array-like
    becomes a float array); else a :class:`ShapeError` naming both shapes. Every built-in ``backward`` asks first:
    NumPy would broadcast a (1, C) or (C,) gradient over the batch and return a gradient for every sample."""
    got = getattr(grad_y, "shape", None)
    if got == shape and isinstance(grad_y, np.ndarray):
        return grad_y
    if tuple(np.shape(grad_y)) != tuple(shape):
        raise ShapeError(f"{owner}.backward got dL/dy of shape {tuple(np.shape(grad_y))}, but the last forward's output "
                         f"had shape {tuple(shape)}: dL/dy has the shape of y.")
    return grad_y if isinstance(grad_y, np.ndarray) else float_input(grad_y)


def _check_array_name(name, kind, module):
    """A ValueError unless ``name`` can name a parameter or buffer in a checkpoint: a string without dots (the
    saved names join the module path and the name with dots, and are split at them when loaded)."""
    if not isinstance(name, str) or not name or "." in name:
        raise ValueError(f"The {kind} name {name!r} of {type(module).__name__} must be a non-empty string without "
                         "dots: saved weights and optimizer state are named by module path and name joined with "
                         "dots, such as '0.W'.")


def backward_without_input_grad(module, grad_y):
    """``module.backward(grad_y)`` for a module whose input is data: dL/dx is not wanted.

    Modules whose ``backward`` takes ``input_grad`` (Linear, Sequential) then skip that product;
    any other module computes it as usual and the result is dropped. Returns None.
    """
    if _takes_input_grad(type(module)):
        module.backward(grad_y, input_grad=False)
    else:
        module.backward(grad_y)


_HOOKS_OF = {"forward": "_forward_hooks", "backward": "_backward_hooks"}
_running = threading.local()    # .calls: the (method, module id) of hooked calls running in this thread;
                                # .fired: how often each (method, module id) has called its hooks here


def _with_hooks(method, name):
    """``method`` (a subclass's ``forward`` or ``backward``) followed by the module's hooks of that name.

    The hooks get the call's first argument (``x`` or ``grad_y``) and its result. They run once per
    call: when a subclass's method calls ``super().forward(x)``, only the outermost call runs them (the
    calls in progress are kept per thread, not on the module, so a copy of it carries none). Without
    hooks the wrapper costs one Python call (``scripts/bench_mlp.py``'s per-step overhead line).
    """
    # two closures rather than one reading getattr(self, hooks_attr): the check runs on every call,
    # and a plain attribute read is the cheaper one
    if name == "forward":
        @functools.wraps(method)
        def hooked(self, *args, **kwargs):
            if not self._forward_hooks:
                return method(self, *args, **kwargs)
            return _call_with_hooks(self, method, name, self._forward_hooks, args, kwargs)
    else:
        @functools.wraps(method)
        def hooked(self, *args, **kwargs):
            if not self._backward_hooks:
                return method(self, *args, **kwargs)
            return _call_with_hooks(self, method, name, self._backward_hooks, args, kwargs)
    hooked._fires_hooks = True
    return hooked


def _call_with_hooks(module, method, name, hooks, args, kwargs):
    calls = getattr(_running, "calls", None)
    if calls is None:
        calls = _running.calls = set()
    key = (name, id(module))
    if key in calls:                      # an inner call (super().forward): the outer one runs the hooks
        return method(module, *args, **kwargs)
    calls.add(key)
    try:
        out = method(module, *args, **kwargs)
    finally:
        calls.discard(key)
    fired = getattr(_running, "fired", None)
    if fired is None:
        fired = _running.fired = {}
    fired[key] = fired.get(key, 0) + 1
    first = args[0] if args else next(iter(kwargs.values()), None)
    for fn in list(hooks.values()):
        run_hook(fn, module, first, out)
    return out


_RETURNING_HOOKS = set()     # ids of the hook functions already warned of (while they live)


def run_hook(fn, module, a, b):
    """Call the hook ``fn(module, a, b)``; an array it returns (a replacement output or gradient, as a PyTorch
    forward hook's return value is) is ignored, with a warning once per hook function: here hooks observe."""
    returned = fn(module, a, b)
    if isinstance(returned, np.ndarray) and id(fn) not in _RETURNING_HOOKS:
        try:        # (by id: a hook need not be hashable; forgotten with it, as its id may be another's later)
            weakref.finalize(fn, _RETURNING_HOOKS.discard, id(fn))
            _RETURNING_HOOKS.add(id(fn))
        except TypeError:       # a callable that takes no weak reference: warned of at every call
            pass
        import warnings

        from ..errors import LayerwiseWarning
        warnings.warn(f"the hook {getattr(fn, '__qualname__', fn)!r} on {type(module).__name__} returned a value, which "
                      "is ignored: layerwise's hooks observe and cannot replace an output or a gradient (a PyTorch "
                      "forward hook's return value would). To change values, write a module.", LayerwiseWarning,
                      stacklevel=4)


def hook_calls(name, module):
    """How often ``module``'s ``name`` ("forward", "backward") hooks have been called by its own
    method in this thread: a container compares it around a call to know whether it must call them."""
    return getattr(_running, "fired", {}).get((name, id(module)), 0)


def fires_own_hooks(bound_method):
    """True when calling ``bound_method`` (``m.forward``, ``m.backward``) runs m's hooks itself; a
    container runs them for any other (a method set on the instance, or a class's own wrapper)."""
    return getattr(bound_method, "_fires_hooks", False)


def unhooked(cls, name):
    """The plain ``cls.forward`` / ``cls.backward``: what runs without calling hooks."""
    method = getattr(cls, name)
    return getattr(method, "__wrapped__", method) if fires_own_hooks(method) else method


class Module:
    """Base class of every layer, container and user-written module.

    A subclass calls ``super().__init__()``, creates its parameters with
    :meth:`register_param`, and implements :meth:`forward` and :meth:`backward`.
    Everything else (``update``, ``zero_grad``, ``train``/``eval``, ``astype``,
    ``state_dict``) is inherited.

    Attributes
    ----------
    params : dict of str to ndarray
        The module's own parameters.
    grads : dict of str to ndarray
        ``dL/dparam`` with the same keys and shapes; ``backward`` adds into it. After :meth:`update`
        or :meth:`zero_grad` every entry reads zero. The zeroing is lazy (the first backward after an
        update overwrites instead of adding: two passes over each weight fewer per step), so read
        gradients through this attribute after each backward: an array kept from before an update holds
        stale values, or is the optimizer's momentum buffer (SGD with momentum recycles the gradient's
        memory), and writing into it changes training.
    buffers : dict of str to ndarray
        Non-trained state saved with the weights (running statistics).
    optim_state : dict of str to dict
        Per-parameter optimizer state (velocity, moments, step count).
    training : bool
        Set recursively by :meth:`train` and :meth:`eval`.
    frozen : bool
        When True, :meth:`update` leaves the parameters alone (and zeroes the grads).
    output_range : (low, high) or None
        A class attribute: the interval every output lies in (Sigmoid ``(0, 1)``), or None when it
        is unbounded or not known. A loss that takes probabilities checks the last layer's.

    Notes
    -----
    Whether ``dL/dx`` is computed is a per-call choice, ``backward(grad_y, input_grad=False)`` on
    :class:`Sequential` and :class:`Linear` (the trainer's choice, since its input is data); it
    leaves no state behind. A subclass may accept ``input_grad`` in its own ``backward`` too.
    """

    output_range = None
    _hands_down_own = False     # True on a slice of a Sequential: see set_optimizer
    # a module whose __init__ does not reach Module's still has (empty, read-only) hook tables
    _forward_hooks = _backward_hooks = types.MappingProxyType({})

    def __init_subclass__(cls, **kwargs):
        """Every ``forward`` and ``backward`` of a subclass (its own or a mixin's) calls the hooks,
        wherever it is called from; containers call them for a method set any other way."""
        super().__init_subclass__(**kwargs)
        for name in _HOOKS_OF:
            method = getattr(cls, name, None)
            if (isinstance(method, types.FunctionType) and not fires_own_hooks(method)
                    and method is not getattr(Module, name)):
                setattr(cls, name, _with_hooks(method, name))

    def __init__(self):
        self.params = {}
        self._grads = {}
        self._unzeroed = set()
        self.buffers = {}
        self.optim_state = {}
        self.training = True
        self.frozen = False
        self.optimizer = None
        self._optimizer_inherited = False
        self._no_decay = set()
        self._cache = None
        self._forward_hooks = {}
        self._backward_hooks = {}

    @property
    def grads(self):
        """``dL/dparam`` by name; read after :meth:`update` or :meth:`zero_grad`, every entry is zero.

        Read the entries after each backward rather than keeping the arrays: :meth:`update` may give a
        parameter a new gradient array (SGD with momentum keeps the old one as its momentum buffer, see
        ``Optimizer.step_recycling``), as PyTorch gives ``p.grad`` a new tensor after ``zero_grad()``. An
        array kept from before an update is then the optimizer's state, and writing into it changes training.
        """
        if self._unzeroed:
            for name in self._unzeroed:
                self._grads[name].fill(0)
            self._unzeroed.clear()
        return self._grads

    @grads.setter
    def grads(self, value):
        self._grads = value
        self._unzeroed = set()

    def _grad_out(self, name):
        """``(grads[name], fresh)`` for a backward that adds ``dL/dparam`` into it.

        Zeroing is lazy: :meth:`update` and :meth:`zero_grad` only mark the gradients stale. When
        ``fresh`` is True the entry is stale: the caller overwrites it (``out=``) instead of adding,
        which saves the zero fill and the add (two passes over each weight per step), then calls
        :meth:`_grad_written`. Until then the entry stays stale, so a write that raised leaves no
        old values behind.
        """
        return self._grads[name], name in self._unzeroed

    def _grad_written(self, name):
        """``grads[name]`` now holds this step's values (see :meth:`_grad_out`)."""
        self._unzeroed.discard(name)

    @property
    def requires_input_grad(self):
        raise AttributeError("requires_input_grad was removed: it stayed set on a child after the call. "
                             "Pass input_grad=False to backward(...) instead.")

    @requires_input_grad.setter
    def requires_input_grad(self, value):
        self.requires_input_grad  # raises the same message

    # -- observers ---------------------------------------------------------------------------
    def register_forward_hook(self, fn):
        """Call ``fn(module, x, y)`` after each forward of this module.

        Each call of ``forward`` calls it: by a container, by a user module that runs its children
        itself, or directly (``model.forward(x)`` calls the model's own hooks after its layers').
        Returns a handle whose ``.remove()`` detaches it. ``y`` is the module's output: a hook
        reads it (statistics) and must not change it in place; a value it returns is ignored (with a
        warning: a PyTorch forward hook's would replace the output).
        """
        return self._add_hook(self._forward_hooks, fn)

    def register_backward_hook(self, fn):
        """Call ``fn(module, grad_y, grad_x)`` after each backward of this module, however it is called.

        ``grad_x`` is None when ``dL/dx`` was not computed (``input_grad=False``: the first layer in
        training).
        Returns a handle whose ``.remove()`` detaches it.
        """
        return self._add_hook(self._backward_hooks, fn)

    @staticmethod
    def _add_hook(hooks, fn):
        if not callable(fn):
            raise TypeError(f"A hook must be callable. Got {fn!r} instead.")
        key = next(_hook_ids)
        hooks[key] = fn
        return HookHandle(hooks, key)

    # -- parameters -------------------------------------------------------------------------
    def register_param(self, name, array, *, decay=True):
        """Add a parameter and its zero gradient.

        ``decay=False`` exempts it from weight decay (biases, normalization shifts).
        """
        _check_array_name(name, "parameter", self)
        array = np.asarray(array)
        if not np.issubdtype(array.dtype, np.floating):
            raise TypeError(f"The parameter '{name}' of {type(self).__name__} must be a float array. "
                            f"Got dtype {array.dtype} instead.")
        self.params[name] = array
        self.grads[name] = np.zeros_like(array)
        if not decay:
            self._no_decay.add(name)
        return array

    def register_buffer(self, name, array):
        """Add a non-trained array that ``state_dict`` saves (running statistics)."""
        _check_array_name(name, "buffer", self)
        self.buffers[name] = np.asarray(array)
        return self.buffers[name]

    def children(self):
        """Sub-modules, in order. Containers override this (Sequential: its list); so does a module of
        yours made of others (``return [self.fc1, self.act, self.fc2]``): only children are trained,
        saved, converted and checked (:meth:`check_children` refuses a module that forgot one)."""
        return []

    def named_modules(self, prefix=""):
        """Yield ``(dotted_name, module)`` for this module and every descendant."""
        yield prefix, self
        for i, child in enumerate(self.children()):
            yield from child.named_modules(f"{prefix}{i}.")

    def check_children(self):
        """A TypeError when a module of this tree holds, in an attribute (or in a list, tuple or dict in
        one, the ``nn.ModuleList`` habit), a module that is nowhere in the tree: its parameters would
        silently never be trained or saved (the PyTorch habit ``self.fc1 = Linear(...)`` without a
        ``children()`` that returns it). A reference to a module that is in the tree elsewhere (tied
        weights) is fine. ``set_optimizer``, ``gradcheck``, ``Trainer.fit`` and ``Sequential.append`` (once an
        optimizer is set) call it.

        Also a ValueError when two modules hold the same array (or views of one) as parameters, as
        ``b.params["W"] = a.params["W"]`` makes: each module steps its own parameters, so that array would be
        stepped twice and counted twice."""
        check_initialized(self)
        _check_no_shared_parameters(self)
        tree = {id(m) for _, m in self.named_modules()}
        for path, m in self.named_modules():
            for name, value in vars(m).items():
                for where, held in _held_modules(name, value):
                    if id(held) in tree:
                        continue
                    owner = f"{type(m).__name__} (module {path.rstrip('.')})" if path else type(m).__name__
                    raise TypeError(
                        f"{owner} holds a {type(held).__name__} in self.{where}, but its children() does not "
                        "return it, so its parameters would never be trained, saved or checked. Give "
                        f"{type(m).__name__} a children() that returns its modules in order (def children(self): "
                        f"return [self.{where}, ...]), or build the model as a Sequential. If it is a layer that "
                        "a model around this one owns (tied weights), call set_optimizer (or gradcheck) on that "
                        "model, which sees the layer there.")

    def named_parameters(self):
        """Yield ``(flat_name, module, key)`` such as ``("0.W", linear, "W")``."""
        for prefix, module in self.named_modules():
            for key in module.params:
                yield prefix + key, module, key

    def n_params(self):
        """Number of scalar parameters, this module and its children."""
        return int(sum(m.params[k].size for _, m, k in self.named_parameters()))

    @classmethod
    def from_config(cls, input_shape, **kwargs):
        """Build from a config entry; ``input_shape`` (no batch axis) is what the layer before gives.

        The default passes the entry's keys to ``__init__``. Layers whose sizes follow from the
        input override this to infer them, as ``Linear`` does (``in_features = input_shape[0]``);
        its keyword arguments are the keys an entry may have (``dtype`` and ``rng`` are filled in by
        the builder when taken). The model builder calls it, then runs one forward on a probe batch
        to learn the output shape the next layer gets.
        """
        return cls(**kwargs)

    # A layer may also define ``param_shapes(cls, input_shape, **entry) -> {name: shape}``, a
    # classmethod giving the parameter shapes ``from_config`` would create: the builder then
    # refuses a model too large for memory before allocating it (see ``Linear.param_shapes``).

    # -- the contract ----------------------------------------------------------------------
    def forward(self, x):
        """Return ``y = f(x)`` and cache what :meth:`backward` needs."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(x)")

    def backward(self, grad_y):
        """Return ``dL/dx`` from ``dL/dy``; add ``dL/dparam`` into :attr:`grads`.

        A subclass may take ``input_grad=True`` as a second argument and skip ``dL/dx`` (return None)
        when it is False; containers pass it to the first module with parameters.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement backward(grad_y)")

    def __call__(self, x):
        return self.forward(x)

    def update(self):
        """Apply one optimizer step to the own parameters (unless frozen), then zero the grads."""
        if self.params and not self.frozen:
            if self.optimizer is None:
                raise RuntimeError(f"{self!r} has no optimizer: call set_optimizer(...) on it or on "
                                   "the model that contains it before update().")
            grads, states, optimizer = self.grads, self.optim_state, self.optimizer
            # looked up on the class: a wrapper that forwards attributes to an SGD has its own step called
            recycling = getattr(type(optimizer), "step_recycling", None)
            for name, p in self.params.items():
                state = states.get(name)
                if state is None:
                    state = states[name] = {}
                if recycling is None:       # an optimizer of the user's own with only step()
                    optimizer.step(p, grads[name], state, name not in self._no_decay)
                else:                       # it may keep the gradient's memory as its state (see grads)
                    grads[name] = recycling(optimizer, p, grads[name], state, name not in self._no_decay)
        children = self.children()
        if children:
            for child in children:
                if self.frozen:
                    child.zero_grad()
                else:
                    child.update()
        if self._grads:
            self._unzeroed.update(self._grads)

    def zero_grad(self):
        """Set every gradient of this module and its children to zero (lazily: see :attr:`grads`)."""
        for _, module in self.named_modules():
            module._unzeroed.update(module._grads)

    def set_optimizer(self, optimizer):
        """Use ``optimizer`` for this module and every child that has none of its own; returns self.

        A child has one of its own when ``set_optimizer`` was called on it, or on a slice of a Sequential that
        holds it (``model[:3].set_optimizer(...)`` gives those layers their own). A module whose optimizer changes
        for another object starts with empty optimizer state (momentum, moments), as a new PyTorch optimizer
        does; setting the same object again keeps it.

        The first call in a process (or the first ``Trainer.fit``) also tells glibc's malloc to keep the memory
        a training step frees for the next step (``layerwise._heap``; ``LAYERWISE_KEEP_HEAP=0`` leaves malloc
        alone).
        """
        if isinstance(optimizer, type) or not callable(getattr(optimizer, "step", None)):
            what = f"the class {optimizer.__name__}" if isinstance(optimizer, type) else repr(optimizer)
            raise TypeError(f"set_optimizer takes an optimizer, such as layerwise.SGD(lr=0.1) or "
                            f"layerwise.optim.get_optimizer('adam', lr=1e-3); got {what}.")
        self.check_children()
        keep_freed_memory()     # a loop written by hand frees and takes the same arrays every step (layerwise._heap)
        self._use_optimizer(optimizer, False)
        for child in self.children():
            if self._hands_down_own:        # a slice model[:3]: its layers get it as their own
                child._use_optimizer(optimizer, False)
                for grandchild in child.children():
                    grandchild._inherit_optimizer(optimizer)
            else:
                child._inherit_optimizer(optimizer)
        return self

    def _inherit_optimizer(self, optimizer):
        if self.optimizer is None or self._optimizer_inherited:
            self._use_optimizer(optimizer, True)
        for child in self.children():
            child._inherit_optimizer(self.optimizer)

    def _use_optimizer(self, optimizer, inherited):
        if optimizer is not self.optimizer:
            self.optim_state = {}       # another optimizer's momentum or moments are not this one's
        self.optimizer = optimizer
        self._optimizer_inherited = inherited

    def train(self, mode=True):
        """Set training mode here and in every child; returns self."""
        for _, module in self.named_modules():
            module.training = bool(mode)
        return self

    def eval(self):
        """Set evaluation mode (Dropout off, running statistics used); returns self."""
        return self.train(False)

    def astype(self, dtype):
        """Convert parameters, gradients, buffers and optimizer state to the float ``dtype``; returns self.

        Arrays already of ``dtype`` are kept as they are. A converted array is a new one, made once even
        when several modules share it (it stays shared); an attribute of a module that held the
        old array (``self.a = self.register_param("a", ...)``) is pointed at the new one, so that it does
        not go on reading values the optimizer no longer updates. A view kept in an attribute
        (``self.Wt = W.T``) is not followed: take it from ``params`` when it is used.
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"astype takes a float dtype (float16, float32, float64) for the parameters and their "
                            f"gradients; got {dtype}.")
        modules = [m for _, m in self.named_modules()]
        for m in modules:                    # before anything changes: Adam's eps=1e-8 is 0 in float16
            check = getattr(m.optimizer, "check_dtype", None)
            if check is not None:
                check(dtype)
        replaced = {}                        # id(old array) -> (old, new)
        for m in modules:
            stores = [m.params, m.grads, m.buffers, *m.optim_state.values()]
            for store in stores:
                for k, v in store.items():
                    if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating) and v.dtype != dtype:
                        if id(v) not in replaced:
                            replaced[id(v)] = (v, v.astype(dtype))
                        store[k] = replaced[id(v)][1]
            m._cache = None
        if replaced:
            for m in modules:
                for name, value in list(vars(m).items()):
                    old_new = replaced.get(id(value))
                    if old_new is not None and old_new[0] is value:
                        setattr(m, name, old_new[1])
        return self

    # -- saving ----------------------------------------------------------------------------
    def state_dict(self):
        """Flat copy of every parameter and buffer, named like ``"0.W"`` and ``"2.running_mean"``."""
        out = {}
        for prefix, m in self.named_modules():
            for store in (m.params, m.buffers):
                for k, v in store.items():
                    out[prefix + k] = v.copy()
        return out

    def load_state_dict(self, state):
        """Copy arrays from ``state`` (as made by :meth:`state_dict`) into this module, in place."""
        own = {}
        for prefix, m in self.named_modules():
            for store in (m.params, m.buffers):
                for k in store:
                    own[prefix + k] = (store, k)
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise KeyError(f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        for name, (store, k) in own.items():
            src = np.asarray(state[name])
            if src.shape != store[k].shape:
                raise ValueError(f"load_state_dict: '{name}' has shape {src.shape} in the state but "
                                 f"{store[k].shape} in the model")
            store[k][...] = src
        return self

    def optimizer_state_dict(self):
        """Flat arrays of the optimizer state, named like ``"0.W.velocity"``."""
        out = {}
        for prefix, m in self.named_modules():
            for pname, state in m.optim_state.items():
                for k, v in state.items():
                    out[f"{prefix}{pname}.{k}"] = np.array(v, copy=True)
        return out

    def load_optimizer_state_dict(self, state):
        """Restore what :meth:`optimizer_state_dict` returned.

        Float arrays are converted to their parameter's dtype, as PyTorch's ``load_state_dict`` does. A state that
        a built-in optimizer would not have made (missing or unknown entries, another shape, integers, NaN or
        Inf, a step count that is no int >= 1) is a ValueError naming the parameter
        (``Optimizer.state_problem``); optimizers of the user's own are not checked. A parameter without state
        is taken as not stepped yet (a layer unfrozen or added since)."""
        modules = dict(self.named_modules())
        new = {prefix: {} for prefix in modules}     # checked whole before any module takes it
        for name, value in state.items():
            path, pname, key = name.rsplit(".", 2) if name.count(".") >= 2 else ("", *name.split("."))
            prefix = path + "." if path else ""
            if prefix not in modules or pname not in modules[prefix].params:
                raise KeyError(f"load_optimizer_state_dict: no parameter for '{name}'")
            value, param = np.array(value), modules[prefix].params[pname]
            # a number saved as a 0-d array (a step count) comes back a number; a 0-d parameter's buffer an array
            kept = value.ndim or (np.ndim(param) == 0 and value.dtype.kind == "f")
            if kept and value.dtype.kind == "f" and value.shape == np.shape(param) and value.dtype != param.dtype:
                value = value.astype(param.dtype)       # as PyTorch's load_state_dict: float state in the param's dtype
            new[prefix].setdefault(pname, {})[key] = value if kept else value.item()
        for prefix, m in modules.items():       # what the optimizer would not have made: named here, not at a step
            judge = getattr(m.optimizer, "state_problem", None)
            for pname, st in new[prefix].items() if judge is not None else ():
                problem = judge(m.params[pname], st)
                if problem:
                    raise ValueError(f"the optimizer state of parameter '{prefix}{pname}': {problem}")
        for prefix, m in modules.items():       # a refused state left the model's own as it was
            m.optim_state = new[prefix]
        return self

    # -- helpers for subclasses ------------------------------------------------------------
    def _forget_batch(self):
        """Drop what the last forward kept of its batch for a backward; a module that keeps more
        (inputs, scratch shaped by the data) extends this."""
        self._cache = None

    def _cached(self):
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward was called before forward: "
                               "run forward(x) first.")
        return self._cache

    def _expect_shape(self, x, shape):
        """Raise a clear ValueError unless ``x.shape`` matches ``shape`` (None matches anything)."""
        x = np.asarray(x)
        if x.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, x.shape)):
            return
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        hint = " Add a Flatten before it?" if x.ndim > len(shape) else ""
        raise ShapeError(f"{type(self).__name__} expected input of shape {want}, "
                         f"got {tuple(x.shape)}.{hint}")

    def extra_repr(self):
        return ""

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"


class Elementwise(Module):
    """A layer applied value by value (activations, Dropout): no parameters, the output shaped like the input."""

    @classmethod
    def param_shapes(cls, input_shape, **_):
        """No parameters (the builder's look-ahead memory check)."""
        return {}

    @classmethod
    def output_shape(cls, input_shape, **_):
        """One sample's output shape: the input's (the builder's look-ahead memory check)."""
        return tuple(input_shape)
