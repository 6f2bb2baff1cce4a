"""Optimizers: stateless update rules; the per-parameter state lives on the module.

Each rule follows PyTorch's formulas and defaults. ``step(p, g, state, decay)`` updates ``p`` in
place from its gradient ``g``; ``state`` is the parameter's own dict on its module; ``decay`` says
whether weight decay applies (weights yes, biases no). ``g`` may be overwritten: ``Module.update``
zeroes it right after.
"""

import math

import numpy as np

OPTIMIZERS = {}


def _register(name):
    def add(cls):
        OPTIMIZERS[name] = cls
        cls.name = name
        return cls
    return add


def _number(value, name, owner, *, low=0.0, low_open=False, high=None, high_open=True):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"The '{name}' parameter of {owner} must be a number. Got {value!r} instead.")
    value = float(value)
    bad_low = value <= low if low_open else value < low
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high or not math.isfinite(value):
        lo = f"{'>' if low_open else '>='} {low:g}"
        hi = f" and {'<' if high_open else '<='} {high:g}" if high is not None else ""
        raise ValueError(f"The '{name}' parameter of {owner} must be a number {lo}{hi}. Got {value!r} instead.")
    return value


class Optimizer:
    """Base class: hyperparameters only, plus reusable scratch buffers (not state)."""

    name = "optimizer"

    def __init__(self, lr, weight_decay):
        self.lr = _number(lr, "lr", type(self).__name__, low_open=True)
        self.weight_decay = _number(weight_decay, "weight_decay", type(self).__name__)
        self._buffers = {}

    def _tmp(self, p):
        """A scratch array like ``p`` that starts at the same offset within a 4 KiB page as ``p``.

        Parameters at the same page offset share one byte pool (grown to the largest), so the scratch
        costs about one parameter's size, not the model's. The matching offset keeps the copy in
        :meth:`_descend` free of 4K aliasing (loads that falsely wait on recent stores).
        """
        offset = p.__array_interface__["data"][0] % 4096
        pool = self._buffers.get(offset)
        if pool is None or pool[0].nbytes < p.nbytes + 4096:
            pool = self._buffers[offset] = (np.empty(p.nbytes + 4096, np.uint8), {})
        raw, views = pool
        key = (p.shape, p.dtype.str)
        buf = views.get(key)
        if buf is None:
            start = (offset - raw.__array_interface__["data"][0]) % 4096
            buf = views[key] = raw[start:start + p.nbytes].view(p.dtype).reshape(p.shape)
        return buf

    def _descend(self, p, delta):
        """``p -= delta`` with the same float results; ``delta`` may be overwritten.

        For large ``p`` the difference goes to scratch and is then copied into ``p``: a plain copy is
        several times cheaper than an in-place update right after a BLAS thread on another core read
        ``p`` (the forward product), because the in-place write must take each cache line back first.
        """
        if p.nbytes < 65536:
            p -= delta
            return
        tmp = self._tmp(p)
        np.subtract(p, delta, out=tmp)
        np.copyto(p, tmp)

    def _decayed(self, p, g, decay, tmp):
        """The L2 term of the notes: ``g + weight_decay * p`` (in g), for weights only."""
        if decay and self.weight_decay:
            np.multiply(p, self.weight_decay, out=tmp)
            g += tmp
        return g

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

    def __init__(self, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.momentum = _number(momentum, "momentum", "SGD", high=1.0)
        if not isinstance(nesterov, bool):
            raise ValueError(f"The 'nesterov' parameter of SGD must be a bool. Got {nesterov!r} instead.")
        if nesterov and self.momentum == 0:
            raise ValueError("SGD with nesterov=True needs momentum > 0.")
        self.nesterov = nesterov

    def step(self, p, g, state, decay):
        if decay and self.weight_decay:
            g = self._decayed(p, g, decay, self._tmp(p))
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= self.momentum
                buf += g
            if self.nesterov:
                tmp = self._tmp(p)
                np.multiply(buf, self.momentum, out=tmp)
                g += tmp
            else:
                # g is free now (update() zeroes it next): use it as the scratch for lr * buf
                np.multiply(buf, self.lr, out=g)
                self._descend(p, g)
                return
        g *= self.lr
        self._descend(p, g)


@_register("adam")
class Adam(Optimizer):
    r"""Adam (Kingma and Ba, 2015) as in PyTorch.

    ``m = b1 m + (1 - b1) g``;  ``v = b2 v + (1 - b2) g^2``;
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    """

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"The 'betas' parameter of Adam must be a pair of numbers. Got {betas!r} instead.")
        self.betas = tuple(_number(b, "betas", "Adam", high=1.0) for b in betas)
        self.eps = _number(eps, "eps", "Adam")

    def step(self, p, g, state, decay):
        tmp = self._tmp(p)
        g = self._decayed(p, g, decay, tmp)
        b1, b2 = self.betas
        if "exp_avg" not in state:
            state.update(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        np.multiply(g, 1 - b1, out=tmp)
        m += tmp
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp *= 1.0 / math.sqrt(1 - b2 ** t)
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr / (1 - b1 ** t)
        self._descend(p, tmp)


@_register("rmsprop")
class RMSprop(Optimizer):
    r"""RMSprop as in PyTorch (not centered).

    ``v = alpha v + (1 - alpha) g^2``;  ``u = g / (sqrt(v) + eps)``;
    with momentum ``b = momentum b + u; p -= lr b``, else ``p -= lr u``.
    """

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.alpha = _number(alpha, "alpha", "RMSprop", high=1.0, high_open=False)
        self.eps = _number(eps, "eps", "RMSprop")
        self.momentum = _number(momentum, "momentum", "RMSprop", high=1.0)

    def step(self, p, g, state, decay):
        tmp = self._tmp(p)
        g = self._decayed(p, g, decay, tmp)
        if "square_avg" not in state:
            state.update(step=0, square_avg=np.zeros_like(p))
            if self.momentum:
                state["momentum_buffer"] = np.zeros_like(p)
        state["step"] += 1
        v = state["square_avg"]
        v *= self.alpha
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.alpha
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        if self.momentum:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += tmp
            np.multiply(buf, self.lr, out=tmp)
        else:
            tmp *= self.lr
        self._descend(p, tmp)


@_register("adagrad")
class Adagrad(Optimizer):
    r"""Adagrad as in PyTorch.

    ``s = s + g^2``;  ``p -= lr * g / (sqrt(s) + eps)``.
    """

    def __init__(self, lr=1e-2, eps=1e-10, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.eps = _number(eps, "eps", "Adagrad")

    def step(self, p, g, state, decay):
        tmp = self._tmp(p)
        g = self._decayed(p, g, decay, tmp)
        if "sum" not in state:
            state.update(step=0, sum=np.zeros_like(p))
        state["step"] += 1
        s = state["sum"]
        np.multiply(g, g, out=tmp)
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.eps
        np.divide(g, tmp, out=tmp)
        tmp *= self.lr
        self._descend(p, tmp)


def get_optimizer(name, **hyperparams):
    """An optimizer from its config name (``sgd``, ``adam``, ``rmsprop``, ``adagrad``)."""
    try:
        cls = OPTIMIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown optimizer {name!r}. Expected one of {sorted(OPTIMIZERS)}.") from None
    return cls(**hyperparams)


__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "Adagrad", "OPTIMIZERS", "get_optimizer"]
