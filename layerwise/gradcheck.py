"""Finite-difference checks of backward passes, in float64."""

import copy
from dataclasses import dataclass, field

import numpy as np

from .modules.base import Module


class GradcheckError(AssertionError):
    """A backward pass disagrees with centered finite differences.

    Attributes
    ----------
    tensor : str or None
        The first tensor that disagrees (``"input"`` or a parameter like ``"0.W"``).
    report : GradcheckReport or None
        Every tensor's worst errors, the failing ones included (set by :func:`gradcheck`).
    """

    def __init__(self, message, *, tensor=None, stats=None, report=None):
        super().__init__(message)
        self.tensor, self.stats, self.report = tensor, stats, report


def _check_deterministic(template, x, owner):
    """Finite differences compare outputs of one input: two forwards of copies of the module must agree,
    leave their input as it was, and give float64 (the precision the differences are taken in)."""
    given = x.copy()
    first = np.array(copy.deepcopy(template).forward(given))
    if not np.array_equal(given, x, equal_nan=True):
        raise GradcheckError(f"{owner}: forward changed its input in place, so finite differences cannot perturb it. "
                             "Write the result to a new array (np.tanh(x), not np.tanh(x, out=x)).", tensor="input")
    if first.dtype.kind == "f" and first.dtype.itemsize < 8:
        raise GradcheckError(f"{owner}: forward returned {first.dtype} for float64 input and parameters, too coarse for "
                             "finite differences. Compute in the dtype of the input and parameters (gradcheck converts "
                             "both to float64).", tensor="input")
    second = np.asarray(copy.deepcopy(template).forward(x.copy()))
    if first.shape == second.shape and np.array_equal(first, second, equal_nan=True):
        return
    where = ""
    if first.shape == second.shape:
        k = np.unravel_index(np.argmax(np.abs(first - second)), first.shape)
        where = f" (at index {tuple(int(i) for i in k)}: {first[k]:.10g} then {second[k]:.10g})"
    raise GradcheckError(f"{owner}: forward gives different outputs for the same input and weights{where}, so no "
                         "finite difference can check it. A module that draws random numbers should draw them "
                         "from a Generator it owns (self.rng = np.random.default_rng(seed), as Dropout does), "
                         "not from np.random.", tensor="input")


@dataclass
class GradcheckReport:
    """What :func:`gradcheck` compared: per tensor ``(elements, max abs error, max rel error)``, and the
    tensors that failed with why (``failures``: name -> message). A gradient of the wrong shape (or None)
    has no errors to give: ``(elements, None, None)``. ``not_accumulated`` names the parameters whose
    gradient is right but whose second backward did not add to it."""

    module: str
    tensors: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    not_accumulated: set = field(default_factory=set)

    def __str__(self):
        good = len(self.tensors) - len(self.failures)
        lines = [f"gradcheck {self.module}: {good} of {len(self.tensors)} tensors match finite differences"]
        for name, (n, abs_err, rel_err) in self.tensors.items():
            verdict = "  WRONG" if name in self.failures else ""
            if name in self.not_accumulated:
                verdict += " (a second backward did not add to it: backward must use += on grads)"
            figures = (f"max abs err {abs_err:.2e}  max rel err {rel_err:.2e}" if abs_err is not None
                       else self.failures[name].partition(": ")[2])
            lines.append(f"  {name:<12} {n:>6} elements  {figures}{verdict}")
        return "\n".join(lines)


def _compare(name, analytic, numeric, rtol, atol, owner):
    if analytic is None:
        raise GradcheckError(f"{owner}: backward returned None for {name}, expected an array of shape "
                             f"{numeric.shape}.", tensor=name, stats=(numeric.size, None, None))
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise GradcheckError(f"{owner}: the gradient for {name} has shape {analytic.shape}, "
                             f"expected {numeric.shape}.", tensor=name, stats=(numeric.size, None, None))
    with np.errstate(invalid="ignore"):
        err = np.abs(analytic - numeric)
        rel = err / np.maximum(np.abs(numeric), 1e-12)
        bad = ~(err <= atol + rtol * np.abs(numeric))    # NaN or inf on either side is a failure too
    stats = (int(err.size), float(np.max(err, initial=0)), float(np.max(rel, initial=0)))
    if bad.any():
        worst = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(err, nan=np.inf), -1)), err.shape)
        why = ("; the finite differences are not finite there: the output is NaN or inf near this input "
               "(outside the function's domain?)" if not np.isfinite(numeric[worst]) else "")
        raise GradcheckError(
            f"{owner}: gradient of {name} is wrong at index {tuple(int(i) for i in worst)}: "
            f"analytic {analytic[worst]:.10g}, numeric {numeric[worst]:.10g} "
            f"({int(bad.sum())} of {bad.size} elements off; rtol={rtol}, atol={atol}){why}.",
            tensor=name, stats=stats)
    return stats


def _check_accumulation(template, x, grad_y_of, analytic, owner, names):
    """A second backward without update() must add to ``grads``: every parameter's gradient doubles.

    Run on a fresh copy whose grads are set to the first backward's (so a stochastic module sees the
    same draws), for the parameters ``names`` (those whose first gradient was right); returns
    ``{name: (message, not_added)}`` for each of them that did not double (``not_added`` False when the
    second pass raised instead).
    """
    m = copy.deepcopy(template)
    right = [(name, mod, key) for name, mod, key in m.named_parameters() if name in names]
    try:
        y = m.forward(x)
        for name, mod, key in right:
            mod.grads[key][...] = analytic[name]
        m.backward(grad_y_of(y))
    except Exception as e:      # the first backward ran: say that it is the second one that failed
        return {name: (f"{owner}: a second backward without update() raised {type(e).__name__}: {e}", False)
                for name, _, _ in right}
    failures = {}
    for name, mod, key in right:
        got, want = np.asarray(mod.grads[key], np.float64), 2 * np.asarray(analytic[name], np.float64)
        if got.shape == want.shape and np.allclose(got, want, rtol=1e-9, atol=1e-12 * np.max(np.abs(want), initial=1)):
            continue
        failures[name] = (f"{owner}: after two backward calls without update(), grads of {name} are not the sum "
                          "of both calls' gradients: backward must add into grads (+=), not assign them.", True)
    return failures


def _numeric(f, array, eps):
    """Centered differences of the scalar ``f()`` with respect to every element of ``array`` (in place).

    Indexed element by element, never through ``reshape(-1)``: for a transposed or column-major array
    that is a copy, and perturbing the copy would leave ``f()`` unchanged (every difference 0).
    """
    out = np.zeros(array.shape)
    for i in np.ndindex(array.shape):
        keep = array[i]
        array[i] = keep + eps
        up = f()
        array[i] = keep - eps
        down = f()
        array[i] = keep
        out[i] = (up - down) / (2 * eps)
    return out


def gradcheck(module, x, *, loss=None, target=None, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0):
    """Check ``module.backward`` against centered finite differences in float64.

    The module is copied and converted to float64; the original is left untouched. Without a
    ``loss`` the scalar is ``sum(y * G)`` with a random upstream gradient ``G`` (not all ones, so
    a backward that ignores its argument is caught); with ``loss`` (and ``target``) the scalar is
    the loss. Every evaluation starts from a fresh copy of the module, so stochastic modules that
    draw from their own Generator (Dropout) see the same mask every time. Each parameter whose
    gradient is right is checked once more for accumulation: a second backward without ``update()``
    must add into ``grads`` (double them), as gradient accumulation over several batches needs.

    Parameters
    ----------
    module : Module
    x : array_like
        The input; converted to float64.
    loss, target : Loss and its target, optional
    eps : float
        Finite-difference step.
    rtol, atol : float
        Tolerances: ``|analytic - numeric| <= atol + rtol * |numeric|`` elementwise.
    seed : int
        Seed of the random upstream gradient.

    Returns
    -------
    GradcheckReport

    Raises
    ------
    GradcheckError
        Naming the tensor (``input`` or a parameter like ``0.W``), the worst element, and the
        analytic and numeric values.
    """
    if isinstance(module, Module):
        module.check_children()
    else:
        _check_module_like(module)
    template = copy.deepcopy(module).astype(np.float64)
    template.zero_grad()
    for _, m in template.named_modules():     # the copies are probes: the module's hooks are not told
        m._forward_hooks, m._backward_hooks = {}, {}
    x = np.array(x, dtype=np.float64)
    owner = f"gradcheck of {type(module).__name__}"
    upstream = None

    def objective(inp):
        m = copy.deepcopy(template)
        y = m.forward(inp)
        if loss is not None:
            return m, y, float(loss.forward(y, target))
        return m, y, float(np.sum(y * upstream))

    _check_deterministic(template, x, owner)
    probe = copy.deepcopy(template).forward(x)
    if loss is None:
        upstream = np.random.default_rng(seed).standard_normal(np.shape(probe))
    elif target is not None and hasattr(loss, "targets") and np.ndim(target) == 1 and np.ndim(probe) == 2:
        target = loss.targets(np.asarray(target), np.shape(probe)[-1])    # labels (N,) as the Trainer gives them
    def grad_y_of(y):      # a copy of the upstream gradient: a backward may use its argument as scratch
        if loss is not None:
            loss.forward(y, target)
            return loss.backward()
        return upstream.copy()

    m, y, _ = objective(x)
    analytic_x = m.backward(grad_y_of(y))
    analytic = {name: None if mod.grads[key] is None else np.array(mod.grads[key])
                for name, mod, key in m.named_parameters()}

    report = GradcheckReport(type(module).__name__)
    tensors = [("input", analytic_x, x)]
    tensors += [(name, analytic[name], mod.params[key]) for name, mod, key in template.named_parameters()]
    first = None
    for name, grad, array in tensors:
        try:
            report.tensors[name] = _compare(name, grad, _numeric(lambda: objective(x)[2], array, eps),
                                            rtol, atol, owner)
        except GradcheckError as e:   # go on, so that the report holds every tensor's errors
            report.tensors[name], report.failures[name] = e.stats, str(e)
            first = first or e
    right = {name for name in report.tensors if name != "input" and name not in report.failures}
    if right:
        for name, (message, not_added) in _check_accumulation(template, x, grad_y_of, analytic, owner,
                                                              right).items():
            report.failures[name] = message
            if not_added:
                report.not_accumulated.add(name)
            first = first or GradcheckError(message, tensor=name, stats=report.tensors[name])
    if first is not None:
        first.report = report
        raise first
    return report


def _check_module_like(module):
    """A TypeError unless ``module`` has what gradcheck calls on a module (a loss is pointed to gradcheck_loss)."""
    from .losses import Loss
    if isinstance(module, Loss):
        raise TypeError(f"gradcheck takes a Module; {type(module).__name__} is a loss: check it with "
                        "layerwise.gradcheck_loss(loss, pred, target).")
    missing = [name for name in ("forward", "backward", "astype", "zero_grad", "named_modules")
               if not callable(getattr(module, name, None))]
    if missing:
        raise TypeError(f"gradcheck takes a Module (a subclass of layerwise.Module, with forward and backward); got "
                        f"{type(module).__name__}, which has no {missing[0]}().")


def gradcheck_loss(loss, pred, target, *, eps=1e-6, rtol=1e-5, atol=1e-7):
    """Check ``loss.backward()`` against centered finite differences of ``loss.forward`` in float64."""
    pred = np.array(pred, dtype=np.float64)
    target = np.asarray(target)
    if np.issubdtype(target.dtype, np.floating):
        target = target.astype(np.float64)
    probe = copy.deepcopy(loss)
    probe.forward(pred, target)
    analytic = probe.backward()
    numeric = _numeric(lambda: float(copy.deepcopy(loss).forward(pred, target)), pred, eps)
    report = GradcheckReport(type(loss).__name__)
    report.tensors["pred"] = _compare("pred", analytic, numeric, rtol, atol, f"gradcheck of {type(loss).__name__}")
    return report


__all__ = ["gradcheck", "gradcheck_loss", "GradcheckError", "GradcheckReport"]
