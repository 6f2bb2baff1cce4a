"""layerwise._blas: y += a x and y = a x + b y on NumPy's BLAS, and the cases that must take NumPy's path."""

import contextlib

import numpy as np
import pytest

from layerwise import _blas

BIG = (256, 128)        # 128 KiB of float32: above MIN_BYTES


def _bundled_openblas():
    """True when NumPy's BLAS is the OpenBLAS its wheels bundle (the BLAS path must then be found)."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:       # noqa: BLE001 - an old NumPy without the dict form
        return False
    return blas.get("name") == "scipy-openblas"


def _pair(shape, dtype=np.float32, order="C", seed=0):
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(shape), dtype=dtype, order=order)
    y = np.asarray(rng.standard_normal(shape), dtype=dtype, order=order)
    return x, y


def _both(x, y, a=-0.25, b=0.5):
    """axpy and axpby on copies of y, with the expected values computed in float64."""
    y1, y2 = y.copy(order="K"), y.copy(order="K")
    _blas.axpy(a, x, y1, np.empty_like(y1))
    _blas.axpby(a, x, b, y2, np.empty_like(y2))
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    return (y1, y64 + a * x64), (y2, a * x64 + b * y64)


def test_large_contiguous_float_arrays_take_the_blas_path_when_numpy_bundles_openblas():
    for dtype in (np.float32, np.float64):
        for order in "CF":
            x, y = _pair(BIG, dtype, order)
            assert (_blas._blas_for(x, y) is not None) == _bundled_openblas(), (dtype, order)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (5,), (100, 100), BIG, (64, 32, 3, 3), (10001,)], ids=str)
@pytest.mark.parametrize("path", ["blas", "numpy"])
def test_results_match_the_formula(path, shape, dtype):
    x, y = _pair(shape, dtype)
    if path == "numpy":
        with _blas.numpy_only():
            assert _blas._blas_for(x, y) is None
            results = _both(x, y)
    else:
        results = _both(x, y)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for got, want in results:
        assert got.dtype == dtype and got.shape == shape
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_blas_and_numpy_paths_agree_to_rounding():
    x, y = _pair(BIG)
    (blas_axpy, _), (blas_axpby, _) = _both(x, y)
    with _blas.numpy_only():
        (np_axpy, _), (np_axpby, _) = _both(x, y)
    np.testing.assert_allclose(blas_axpy, np_axpy, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(blas_axpby, np_axpby, rtol=1e-6, atol=1e-6)


def _cases():
    """Arrays the BLAS path must refuse: each still gets the formula's result through NumPy."""
    x, y = _pair(BIG)
    wide_x, wide_y = _pair((256, 256))
    buf = np.zeros(BIG[0] * BIG[1] * 4 + 1, np.uint8)
    unaligned = buf[1:].view(np.float32).reshape(BIG)
    unaligned[...] = y
    base = np.random.default_rng(3).standard_normal(BIG[0] * BIG[1] + 64).astype(np.float32)
    return {
        "small": _pair((100, 100)),                             # 40 KB < MIN_BYTES
        "strided x": (wide_x[:, ::2], y),
        "strided y": (x, wide_y[:, ::2]),
        "C x with F y": (x, np.asfortranarray(y)),
        "float16": _pair(BIG, np.float16),
        "mixed dtypes": (x.astype(np.float64), y),
        "big-endian": (x.astype(">f4"), y.astype(">f4")),
        "unaligned y": (x, unaligned),
        "partial overlap": (base[64:].reshape(BIG), base[:-64].reshape(BIG)),
        "x is y, transposed": (wide_x.T, wide_x),
        "the same memory, two views": (y.reshape(-1).reshape(BIG), y),
        "masked y": (x, np.ma.masked_array(y, mask=np.zeros(BIG, bool))),
    }


@pytest.mark.parametrize("fn", ["axpy", "axpby"])
@pytest.mark.parametrize("case", sorted(_cases()))
def test_unsafe_or_small_arrays_take_the_numpy_path_with_the_formulas_result(case, fn):
    x, y = _cases()[case]
    assert _blas._blas_for(x, y) is None
    x64, y64 = x.astype(np.float64), y.astype(np.float64)      # the values before the call
    if fn == "axpy":
        _blas.axpy(-0.25, x, y, np.empty(y.shape, y.dtype))
        want = y64 - 0.25 * x64
    else:
        _blas.axpby(-0.25, x, 0.5, y, np.empty(y.shape, y.dtype))
        want = -0.25 * x64 + 0.5 * y64
    tol = 1e-2 if y.dtype == np.float16 else 1e-5
    np.testing.assert_allclose(y.astype(np.float64), want, rtol=tol, atol=tol)


def test_arrays_of_other_shapes_are_refused():
    x, y = _pair(BIG)
    assert _blas._blas_for(x.reshape(-1), y) is None
    assert _blas._blas_for(x.T, y.reshape(BIG[::-1])) is None    # same shape, but F against C


@pytest.mark.parametrize("a", [1.0, 0.5])
def test_axpby_with_x_the_same_array_as_y(a):
    for shape in ((10,), BIG):          # NumPy's path and BLAS's
        x, _ = _pair(shape)
        want = (a + 0.5) * x.astype(np.float64)
        _blas.axpby(a, x, 0.5, x, np.empty_like(x))
        np.testing.assert_allclose(x, want, rtol=1e-6)


def test_x_and_y_the_same_array_is_safe():
    x, _ = _pair(BIG)
    want = x.astype(np.float64) * 1.5
    _blas.axpy(0.5, x, x, np.empty_like(x))
    np.testing.assert_allclose(x, want, rtol=1e-6)


def test_a_read_only_y_is_refused_as_numpy_refuses_it():
    x, y = _pair(BIG)
    y.flags.writeable = False
    assert _blas._blas_for(x, y) is None
    with pytest.raises(ValueError, match="read-only"):
        _blas.axpy(0.5, x, y, np.empty_like(y))


def test_an_empty_array_is_left_alone():
    x, y = np.zeros((0, 5), np.float32), np.zeros((0, 5), np.float32)
    _blas.axpy(0.5, x, y, np.empty_like(y))
    _blas.axpby(0.5, x, 2.0, y, np.empty_like(y))
    assert y.shape == (0, 5)


def test_numpy_scalars_as_coefficients():
    x, y = _pair(BIG)
    (got, want), _ = _both(x, y, a=np.float32(-0.25), b=np.float64(0.5))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_numpy_only_restores_the_previous_setting_after_an_error():
    with pytest.raises(RuntimeError), _blas.numpy_only():
        raise RuntimeError
    x, y = _pair(BIG)
    assert (_blas._blas_for(x, y) is not None) == _bundled_openblas()


@pytest.mark.parametrize("fn", ["axpy", "axpby"])
def test_inf_and_nan_spread_as_in_numpy_when_a_coefficient_is_zero(fn):
    """BLAS skips a term whose coefficient is 0, so 0 * inf would not become NaN there: such calls take
    NumPy's path (RMSprop with alpha=1 and Adam with beta1=0 make them)."""
    x, y = _pair(BIG)
    x[0, 0], y[0, 1] = np.inf, np.nan
    results = []
    for ctx in (lambda: contextlib.nullcontext(), _blas.numpy_only):
        yy = y.copy()
        with ctx(), np.errstate(invalid="ignore"):
            if fn == "axpy":
                _blas.axpy(0.0, x, yy, np.empty_like(yy))
            else:
                _blas.axpby(1.0, x, 0.0, yy, np.empty_like(yy))
        results.append(yy)
    np.testing.assert_array_equal(results[0], results[1])
    assert np.isnan(results[0][0, 0]) if fn == "axpy" else np.isnan(results[0][0, 1])


def test_numpy_only_blocks_in_two_threads_leave_the_blas_path_on_after_both():
    import threading

    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a():
        with _blas.numpy_only():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with _blas.numpy_only():
            b_in.set()
            a_out.wait(5)
            x, y = _pair(BIG)
            inside.append(_blas._blas_for(x, y))

    inside = []
    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    x, y = _pair(BIG)
    assert inside == [None]                      # still off: b's block was open
    assert (_blas._blas_for(x, y) is not None) == _bundled_openblas()


def test_the_data_address_of_every_kind_of_array_the_blas_path_takes():
    """_address gives ctypes.data's address: C and Fortran order, read-only, a view at an offset, a memmap."""
    base = np.arange(2 * 256 * 128, dtype=np.float32).reshape(512, 128)
    read_only = base.copy()
    read_only.flags.writeable = False
    for a in (base, np.asfortranarray(base), read_only, base[256:], base.view(np.memmap)):
        assert _blas._address(a) == a.ctypes.data
    for x, y in ((np.asfortranarray(base), np.asfortranarray(base + 1)), (read_only, base + 1)):
        assert (_blas._blas_for(x, y) is not None) == _bundled_openblas()
        _blas.axpy(2.0, x, y, None)
        np.testing.assert_array_equal(y, 3 * base + 1)
