"""Weight initializers: ``INITIALIZERS[name](shape, rng, dtype) -> ndarray``.

Every draw is made in the target dtype, so initializing a parameter never needs more memory than
the parameter itself (a float64 draw cast to float32 would need three times as much).
"""

import numpy as np

# dtypes numpy's Generator draws in directly; others are drawn in float64 chunks of this many values
_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))
_CHUNK = 1 << 16


def as_generator(rng):
    """A ``numpy.random.Generator`` from a Generator, an int seed, or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None. Got {type(rng).__name__} instead.")


def fans(shape):
    """``(fan_in, fan_out)``: Linear weights are (in, out); conv kernels are (out, in, kh, kw)."""
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) < 2:
        raise ValueError(f"Initializers need a weight of at least 2 dimensions. Got shape {shape} instead.")
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive, shape[0] * receptive


def _draw(method, shape, dtype):
    """``method(size, dtype=...)`` (``Generator.random`` or ``standard_normal``) as an array of ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype in _NATIVE:
        return method(shape, dtype=dtype)
    out = np.empty(shape, dtype)
    flat = out.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        flat[start:start + _CHUNK] = method(len(flat[start:start + _CHUNK]), dtype=np.float64)
    return out


def _uniform(limit, shape, rng, dtype):
    w = _draw(as_generator(rng).random, shape, dtype)   # U[0, 1), mapped in place to U[-limit, limit)
    w *= 2 * limit
    w -= limit
    return w


def _normal(std, shape, rng, dtype):
    w = _draw(as_generator(rng).standard_normal, shape, dtype)
    w *= std
    return w


def glorot_uniform(shape, rng=None, dtype=np.float32):
    """U(-a, a) with ``a = sqrt(6 / (fan_in + fan_out))`` (Glorot and Bengio, 2010)."""
    fi, fo = fans(shape)
    return _uniform(np.sqrt(6.0 / (fi + fo)), shape, rng, dtype)


def glorot_normal(shape, rng=None, dtype=np.float32):
    """N(0, 2 / (fan_in + fan_out))."""
    fi, fo = fans(shape)
    return _normal(np.sqrt(2.0 / (fi + fo)), shape, rng, dtype)


def he_uniform(shape, rng=None, dtype=np.float32):
    """U(-a, a) with ``a = sqrt(6 / fan_in)`` (He et al., 2015), for ReLU layers."""
    return _uniform(np.sqrt(6.0 / fans(shape)[0]), shape, rng, dtype)


def he_normal(shape, rng=None, dtype=np.float32):
    """N(0, 2 / fan_in)."""
    return _normal(np.sqrt(2.0 / fans(shape)[0]), shape, rng, dtype)


def lecun_normal(shape, rng=None, dtype=np.float32):
    """N(0, 1 / fan_in)."""
    return _normal(np.sqrt(1.0 / fans(shape)[0]), shape, rng, dtype)


def standard(shape, rng=None, dtype=np.float32):
    """U(-a, a) with ``a = 1 / sqrt(fan_in)``: the "standard" initialization that Glorot and Bengio (2010,
    eq. 1) compare theirs with; sigmoid networks so initialized saturate their top hidden layer."""
    return _uniform(1.0 / np.sqrt(fans(shape)[0]), shape, rng, dtype)


def zeros(shape, rng=None, dtype=np.float32):
    """All zeros (draws nothing)."""
    return np.zeros(shape, dtype)


def normal(shape, rng=None, dtype=np.float32, std=0.01):
    """N(0, std^2), std 0.01 by default."""
    return _normal(std, shape, rng, dtype)


INITIALIZERS = {f.__name__: f for f in
                (glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_normal, standard, zeros, normal)}


def get_initializer(name):
    """Look up an initializer by name, with a clear error."""
    if callable(name):
        return name
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        import difflib
        near = difflib.get_close_matches(str(name), list(INITIALIZERS), n=1, cutoff=0.6)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        raise ValueError(f"Unknown initializer {name!r}.{hint} Expected one of {sorted(INITIALIZERS)}.") from None
