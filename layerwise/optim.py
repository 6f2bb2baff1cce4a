"""Optimizers: stateless update rules; the per-parameter state lives on the module.

Each rule follows PyTorch's formulas and defaults. ``step(p, g, state, decay)`` updates ``p`` in
place from its gradient ``g``; ``state`` is the parameter's own dict on its module; ``decay`` says
whether weight decay applies (weights yes, biases no). ``g`` may be overwritten: ``Module.update``
marks it stale right after, so SGD uses it as scratch. ``Module.update`` calls ``step_recycling``,
through which an optimizer may also keep ``g``'s memory as its state (SGD's momentum buffer). Every
step is in-place NumPy, each line one pass over the parameter, except ``y += a x`` and ``y = a x + b y``:
:mod:`layerwise._blas` does each in one pass on NumPy's own BLAS when the arrays are large
(scripts/bench_mlp.py times the steps as the "update" phase, and variant (f) the same epochs with NumPy's
two passes).
"""

import math
from typing import NamedTuple

import numpy as np

from ._blas import axpby, axpy
from .registry import Registry, is_builtin

OPTIMIZERS = Registry("optimizer")
NONNEGATIVE = ("exp_avg_sq", "square_avg", "sum")     # state entries that are sums of squares


def _register(name):
    def add(cls):
        OPTIMIZERS[name] = cls
        cls.name = name
        return cls
    return add


class Hyper(NamedTuple):
    """One hyperparameter of an optimizer: its default and bounds (the one home of both).

    ``kind`` is "float", "bool" or "pair" (two floats, as Adam's betas). The config schema builds its
    fields from these tables, so a plugin optimizer declares its bounds once, here.
    """

    default: object = None          # None: required
    low: float = 0.0
    low_open: bool = False
    high: float = None
    high_open: bool = True
    kind: str = "float"

    def describe(self):
        """``"a number > 0"``, ``"a number >= 0 and < 1"``, ``"a bool"``..."""
        if self.kind == "bool":
            return "a bool"
        lo = f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = f" and {'<' if self.high_open else '<='} {self.high:g}" if self.high is not None else ""
        what = "a pair of numbers" if self.kind == "pair" else "a number"
        return f"{what} {lo}{hi}"

    def admits(self, value):
        """True when the finite number ``value`` is inside the bounds."""
        if not math.isfinite(value):
            return False
        if (value <= self.low) if self.low_open else (value < self.low):
            return False
        return self.high is None or ((value < self.high) if self.high_open else (value <= self.high))

    def check(self, value, name, owner):
        """``value`` converted (float, bool or a pair of floats); a ValueError in sklearn's template if not."""
        bad = ValueError(f"The '{name}' parameter of {owner} must be {self.describe()}. Got {value!r} instead.")
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise bad
            return bool(value)
        items = value if self.kind == "pair" else (value,)
        if self.kind == "pair" and (not isinstance(value, (tuple, list)) or len(value) != 2):
            raise bad
        out = []
        for v in items:
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise bad
            if not self.admits(float(v)):
                raise bad
            out.append(float(v))
        return tuple(out) if self.kind == "pair" else out[0]


class Optimizer:
    """Base class: hyperparameters only, plus reusable scratch buffers (not state)."""

    name = "optimizer"
    #: name -> Hyper: the constructor's arguments with their defaults and bounds
    HYPERPARAMS = {"lr": Hyper(None, low_open=True), "weight_decay": Hyper(0.0)}

    def __init__(self, **hyperparams):
        owner = type(self).__name__
        for name, spec in self.HYPERPARAMS.items():
            value = hyperparams.pop(name, spec.default)
            if value is None:
                raise TypeError(f"{owner} needs the '{name}' parameter.")
            setattr(self, name, spec.check(value, name, owner))
        if hyperparams:
            raise TypeError(f"{owner} got unexpected parameters {sorted(hyperparams)}; it takes "
                            f"{list(self.HYPERPARAMS)}.")
        self._buffers = {}

    def check_dtype(self, dtype):
        """A ValueError when this optimizer cannot step parameters of ``dtype`` (``Module.astype`` asks
        before converting): an ``eps`` that is 0 in that dtype."""
        if "eps" in self.HYPERPARAMS:
            _check_eps(self, np.empty(0, dtype))

    def _tmp(self, p):
        """Scratch space shaped like ``p``, overwritten by the next call.

        One byte pool, grown to the largest parameter, serves every shape: the scratch costs one
        parameter's size, not the model's.
        """
        key = (p.shape, p.dtype.str)
        view = self._buffers.get(key)
        if view is None:
            pool = self._buffers.get("pool")
            if pool is None or pool.nbytes < p.nbytes:
                self._buffers = {"pool": np.empty(max(p.nbytes, 1), np.uint8)}   # views of the old pool go
                pool = self._buffers["pool"]
            view = self._buffers[key] = pool[:p.nbytes].view(p.dtype).reshape(p.shape)
        return view

    def step_recycling(self, p, g, state, decay):
        """:meth:`step` for a caller that owns ``g`` (``Module.update``): returns the array the caller keeps as
        this parameter's gradient from now on, whose values are stale (the next backward writes over them).

        Here ``g`` itself. An optimizer may instead keep ``g``'s memory as its state and hand back the
        state array it replaces (SGD with momentum: the new buffer is ``g + momentum * buf``, written into
        ``g``); ``step`` never does that, since its caller may reuse ``g``.
        """
        self.step(p, g, state, decay)
        return g

    def _decayed(self, p, g, decay, tmp):
        """The L2 term of the notes: ``g + weight_decay * p`` (in g), for weights only."""
        if decay and self.weight_decay:
            axpy(self.weight_decay, p, g, tmp)
        return g

    def state_keys(self):
        """The keys of a parameter's state after its first step (``None``: not known here, an optimizer of the
        user's own, whose state is not checked)."""
        return None

    def state_problem(self, p, state):
        """What makes ``state`` (loaded from a checkpoint) unfit for parameter ``p``, or None.

        A state is empty (before the first step) or holds exactly :meth:`state_keys`: ``step`` an int >= 1, every
        other entry an array of ``p``'s shape and dtype without NaN, finite but for a sum of squares (those in
        ``NONNEGATIVE``, >= 0), which may overflow to +inf in float16 and only stops the step. Any other state
        would crash the next step with NumPy's message, or step on silently in another dtype. Only the built-in
        optimizers' own states are checked: a subclass of the user's may keep more.
        """
        keys = self.state_keys() if is_builtin(type(self)) else None
        if keys is None or not state:
            return None
        if set(state) != set(keys):
            return f"holds {sorted(state)}, expected {sorted(keys)} for {self!r}"
        for key, value in state.items():
            if key == "step":
                if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
                    return f"its 'step' is {value!r}, expected an int >= 1"
            elif not isinstance(value, np.ndarray) or value.shape != p.shape or value.dtype != p.dtype:
                got = f"{value.dtype} of shape {value.shape}" if isinstance(value, np.ndarray) else repr(value)
                return f"its {key!r} is {got}, expected {p.dtype} of shape {p.shape} as the parameter"
            elif key in NONNEGATIVE:
                if np.isnan(value).any() or (value < 0).any():
                    return f"its {key!r} holds NaN or a negative value (it is a running sum of squares)"
            elif not np.isfinite(value).all():
                return f"its {key!r} holds NaN or Inf"
        return None

    def hyperparams(self):
        """The constructor arguments, for configs and reprs."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams().items())
        return f"{type(self).__name__}({args})"

    def __deepcopy__(self, memo):
        new = type(self).__new__(type(self))
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k != "_buffers"})
        new._buffers = {}
        memo[id(self)] = new
        return new


@_register("sgd")
class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum.

    ``d = g + wd * p``;  ``v = momentum * v + d`` (``v = d`` on the first step);
    ``p -= lr * (d + momentum * v if nesterov else v)``; without momentum ``p -= lr * d``.
    """

    HYPERPARAMS = {"lr": Hyper(None, low_open=True), "momentum": Hyper(0.0, high=1.0),
                   "nesterov": Hyper(False, kind="bool"), "weight_decay": Hyper(0.0)}

    def __init__(self, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        if self.nesterov and self.momentum == 0:
            raise ValueError("SGD with nesterov=True needs momentum > 0.")

    def state_keys(self):
        return ("momentum_buffer",) if self.momentum else ()

    def step_recycling(self, p, g, state, decay):
        """With momentum, :meth:`step` in ``y += a x`` passes only, which OpenBLAS runs on all its threads, where
        ``step`` also takes a ``y = a x + b y`` (one thread): the new buffer ``b = g + momentum * buf`` is
        written into ``g``, which becomes the buffer; the old buffer is returned as the gradient array.
        Nesterov's ``p -= lr * (g + momentum * b)`` is then ``p -= lr * (1 + momentum) * b`` and
        ``p += lr * momentum * buf`` (the same step to rounding). scripts/bench_mlp.py's variant (h) and
        scripts/bench_update.py's "by step" rows measure what it saves."""
        buf = state.get("momentum_buffer")
        if (buf is None or buf is g or not self.momentum
                or buf.dtype != g.dtype or buf.shape != g.shape      # (a state loaded in another dtype)
                or type(self).step is not _SGD_STEP or "step" in vars(self)):   # a step of the user's: theirs
            self.step(p, g, state, decay)
            return g
        if decay and self.weight_decay:
            g = self._decayed(p, g, decay, self._tmp(p))
        mu, lr = self.momentum, self.lr
        if self.nesterov:                       # buf is read again below: scratch elsewhere
            tmp = self._tmp(p)
            axpy(mu, buf, g, tmp)               # b = g + momentum * buf, in g
            axpy(-lr * (1 + mu), g, p, tmp)
            axpy(lr * mu, buf, p, tmp)
        else:
            axpy(mu, buf, g, buf)               # b, in g (buf is free: the NumPy path's scratch)
            axpy(-lr, g, p, buf)
        state["momentum_buffer"] = g
        return buf

    def step(self, p, g, state, decay):
        # g is free once read (update() marks it stale next): the scratch of every NumPy-path axpy here
        if decay and self.weight_decay:
            g = self._decayed(p, g, decay, self._tmp(p))
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                axpby(1.0, g, self.momentum, buf, g)        # buf = g + momentum * buf
            if self.nesterov:
                axpy(self.momentum, buf, g, self._tmp(p))   # g + momentum * buf
            else:
                axpy(-self.lr, buf, p, g)
                return
        axpy(-self.lr, g, p, g)


_SGD_STEP = SGD.step        # step_recycling stands in for this rule only, not for a subclass's or a patched one


@_register("adam")
class Adam(Optimizer):
    r"""Adam (Kingma and Ba, 2015) as in PyTorch.

    ``m = b1 m + (1 - b1) g``;  ``v = b2 v + (1 - b2) g^2``;
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    """

    HYPERPARAMS = {"lr": Hyper(1e-3, low_open=True), "betas": Hyper((0.9, 0.999), high=1.0, kind="pair"),
                   "eps": Hyper(1e-8), "weight_decay": Hyper(0.0)}

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def state_keys(self):
        return ("step", "exp_avg", "exp_avg_sq")

    def step(self, p, g, state, decay):
        tmp = self._tmp(p)
        _adam_update(self, p, self._decayed(p, g, decay, tmp), state, tmp)


def _adam_update(opt, p, g, state, tmp):
    """The Adam step on ``p`` from the (possibly decayed) gradient ``g``; ``tmp`` is scratch like ``p``."""
    b1, b2 = opt.betas
    if "exp_avg" not in state:
        _check_eps(opt, p)
        state.update(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))
    state["step"] += 1
    t = state["step"]
    m, v = state["exp_avg"], state["exp_avg_sq"]
    axpby(1 - b1, g, b1, m, tmp)
    np.multiply(g, g, out=tmp)
    axpby(1 - b2, tmp, b2, v, tmp)
    np.sqrt(v, out=tmp)
    tmp *= 1.0 / math.sqrt(1 - b2 ** t)
    tmp += opt.eps
    np.divide(m, tmp, out=tmp)
    axpy(-opt.lr / (1 - b1 ** t), tmp, p, tmp)


@_register("adamw")
class AdamW(Optimizer):
    r"""Adam with decoupled weight decay (Loshchilov and Hutter, 2019) as in PyTorch.

    ``p -= lr * wd * p`` first (weights only, as every decay here), then the Adam step of
    :class:`Adam` on the plain gradient: the decay is not scaled by the moments, unlike Adam's L2
    ``weight_decay``. PyTorch's defaults, with ``weight_decay=1e-2``.
    """

    HYPERPARAMS = {**Adam.HYPERPARAMS, "weight_decay": Hyper(1e-2)}

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    state_keys = Adam.state_keys        # the same moments (_adam_update)

    def step(self, p, g, state, decay):
        if decay and self.weight_decay:
            p *= 1 - self.lr * self.weight_decay
        _adam_update(self, p, g, state, self._tmp(p))


@_register("rmsprop")
class RMSprop(Optimizer):
    r"""RMSprop as in PyTorch (not centered).

    ``v = alpha v + (1 - alpha) g^2``;  ``u = g / (sqrt(v) + eps)``;
    with momentum ``b = momentum b + u; p -= lr b``, else ``p -= lr u``.
    """

    HYPERPARAMS = {"lr": Hyper(1e-2, low_open=True), "alpha": Hyper(0.99, high=1.0, high_open=False),
                   "eps": Hyper(1e-8), "momentum": Hyper(0.0, high=1.0), "weight_decay": Hyper(0.0)}

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
        super().__init__(lr=lr, alpha=alpha, eps=eps, momentum=momentum, weight_decay=weight_decay)

    def state_keys(self):
        return ("step", "square_avg", *(("momentum_buffer",) if self.momentum else ()))

    def step(self, p, g, state, decay):
        tmp = self._tmp(p)
        g = self._decayed(p, g, decay, tmp)
        if "square_avg" not in state:
            _check_eps(self, p)
            state.update(step=0, square_avg=np.zeros_like(p))
            if self.momentum:
                state["momentum_buffer"] = np.zeros_like(p)
        state["step"] += 1
        v = state["square_avg"]
        np.multiply(g, g, out=tmp)
        axpby(1 - self.alpha, tmp, self.alpha, v, tmp)
        np.sqrt(v, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        if self.momentum:
            buf = state["momentum_buffer"]
            axpby(1.0, tmp, self.momentum, buf, tmp)
            axpy(-self.lr, buf, p, tmp)
        else:
            axpy(-self.lr, tmp, p, tmp)


@_register("adagrad")
class Adagrad(Optimizer):
    r"""Adagrad as in PyTorch.

    ``s = s + g^2``;  ``p -= lr * g / (sqrt(s) + eps)``.
    """

    HYPERPARAMS = {"lr": Hyper(1e-2, low_open=True), "eps": Hyper(1e-10), "weight_decay": Hyper(0.0)}

    def __init__(self, lr=1e-2, eps=1e-10, weight_decay=0.0):
        super().__init__(lr=lr, eps=eps, weight_decay=weight_decay)

    def state_keys(self):
        return ("step", "sum")

    def step(self, p, g, state, decay):
        tmp = self._tmp(p)
        g = self._decayed(p, g, decay, tmp)
        if "sum" not in state:
            _check_eps(self, p)
            state.update(step=0, sum=np.zeros_like(p))
        state["step"] += 1
        s = state["sum"]
        np.multiply(g, g, out=tmp)
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        axpy(-self.lr, tmp, p, tmp)


def _check_eps(opt, p):
    """A ValueError when ``eps`` rounds to 0 in the parameter's dtype (1e-8 in float16): a weight whose
    gradient and moment are 0 would then step by 0 / 0 = NaN, and the NaN guard would blame the rate."""
    if opt.eps > 0 and p.dtype.kind == "f" and p.dtype.type(opt.eps) == 0:
        raise ValueError(f"{type(opt).__name__}'s eps={opt.eps!r} is 0 in {p.dtype}, so a zero gradient would step by "
                         f"0 / 0 = NaN. Give eps >= {float(np.finfo(p.dtype).tiny):.0e} (1e-4 is usual for float16), "
                         "or train in float32.")


def get_optimizer(name, **hyperparams):
    """An optimizer from its config name (``sgd``, ``adam``, ``adamw``, ``rmsprop``, ``adagrad``)."""
    try:
        cls = OPTIMIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown optimizer {name!r}. Expected one of {sorted(OPTIMIZERS)}.") from None
    return cls(**hyperparams)


__all__ = ["Hyper", "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "OPTIMIZERS", "get_optimizer"]
