"""scikit-learn's MLP rules, reproduced for :mod:`layerwise.sklearn`: initialization, epoch order, its
Adam and SGD variants, the loss its ``tol`` watches, its learning-rate schedules and stopping rule,
and the conversions between scikit-learn's names and layerwise's (``alpha``, ``random_state``,
activations). :mod:`layerwise.baselines` uses the conversions too.
"""


import math

import numpy as np
from scipy.special import expit
from sklearn.utils import check_random_state

from .callbacks import Callback
from .losses import Loss
from .modules import Linear
from .monitor import Monitor
from .optim import SGD, Adam, Hyper, Optimizer
from .schedules import Schedule

#: scikit-learn's activation names -> layerwise layer types (None: no activation layer)
ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": None}
#: rows per forward pass in predict; every pass has exactly this many rows (see ``_forward``).
#: Measured on 10,000 MNIST-shaped rows, hidden (256, 128): 1024 is as fast as 256 on one BLAS thread and
#: 2.4x faster on two threads when another process holds a core (fewer thread hand-offs); a one-row
#: predict then costs 6 ms instead of 2 ms.
PREDICT_CHUNK = 1024


def weight_decay_from_alpha(alpha, batch_size):
    """layerwise's ``weight_decay`` that regularizes as scikit-learn's ``alpha`` does.

    scikit-learn adds ``alpha / 2 * ||W||^2`` to the loss of each batch and divides it by the batch's
    size, so its gradient adds ``alpha / batch_size * W``; layerwise's L2 ``weight_decay`` adds
    ``weight_decay * W`` (weights only, as scikit-learn). The estimators set it for each batch
    (:class:`MLPEpochs`), so a last, shorter batch gets its own.
    """
    return alpha / batch_size


def alpha_from_weight_decay(weight_decay, batch_size):
    """scikit-learn's ``alpha`` for layerwise's ``weight_decay``: the inverse of :func:`weight_decay_from_alpha`."""
    return weight_decay * batch_size


def seed_from(random_state):
    """An int seed drawn from ``random_state``.

    None, an int or a ``RandomState`` go through scikit-learn's ``check_random_state`` (an int always
    gives the same seed; None draws from NumPy's global RandomState); a ``numpy.random.Generator``
    is drawn from directly (``check_random_state`` refuses it). Drawing advances a passed
    RandomState or Generator, so refitting with the same instance gives a different model.
    """
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2 ** 31))
    return int(check_random_state(random_state).randint(2 ** 31))


def random_state_from(random_state):
    """The ``RandomState`` a fit draws from, as ``MLPClassifier`` gets it with ``check_random_state``.

    An int gives a new ``RandomState(int)`` at every call, None NumPy's global one, and a passed
    ``RandomState`` is used (and advanced) itself. A ``numpy.random.Generator`` gives a
    ``RandomState`` seeded by one draw from it.
    """
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(seed_from(random_state))
    return check_random_state(random_state)


def glorot_bound(fan_in, fan_out, activation):
    """scikit-learn's initial range ``sqrt(factor / (fan_in + fan_out))``: factor 2 for logistic, else 6."""
    return math.sqrt((2.0 if activation == "logistic" else 6.0) / (fan_in + fan_out))


def init_like_mlp(linears, activation, random_state):
    """Draw each Linear's W, then its b, from U(-bound, bound) in float64, in order (``_init_coef``)."""
    for layer in linears:
        W, b = layer.params["W"], layer.params["b"]
        bound = glorot_bound(W.shape[0], W.shape[1], activation)
        W[...] = random_state.uniform(-bound, bound, W.shape)
        b[...] = random_state.uniform(-bound, bound, b.shape)


def linears_of(model):
    """The Linear layers of ``model``, in order: what ``coefs_`` and ``intercepts_`` describe."""
    return [m for _, m in model.named_modules() if isinstance(m, Linear)]


class EpochOrder:
    """``MLPClassifier``'s sample order: one index array, reshuffled by its RandomState every epoch.

    Stands in for the trainer's Generator (``permutation(n)`` is all it asks of it). scikit-learn
    shuffles the previous epoch's order, not ``arange(n)``: ``order = order[permutation(n)]``.
    """

    def __init__(self, random_state):
        self.random_state, self.order = random_state, None

    def permutation(self, n):
        if self.order is None or len(self.order) != n:
            self.order = np.arange(n)
        self.order = self.order[self.random_state.permutation(n)]
        return self.order


class MLPAdam(Adam):
    r"""scikit-learn's Adam: ``p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.

    PyTorch's rule (:class:`~layerwise.optim.Adam`) adds ``eps`` after the bias correction of
    ``sqrt(v)``, scikit-learn's before: the same rule with ``eps / sqrt(1 - b2^t)``. It matters where a
    gradient is as small as ``eps``: a dead ReLU unit's weights, moved by weight decay alone.
    """

    def step(self, p, g, state, decay):
        eps, t = self.eps, state.get("step", 0) + 1
        self.eps = eps / math.sqrt(1 - self.betas[1] ** t)
        try:
            super().step(p, g, state, decay)
        finally:
            self.eps = eps


class MLPSGD(SGD):
    r"""scikit-learn's SGD: ``v = momentum v - lr d``; ``p += momentum v - lr d`` (Nesterov) or ``p += v``.

    ``d = g + weight_decay p``. PyTorch's rule (:class:`~layerwise.optim.SGD`) keeps the velocity
    without ``lr`` and scales it by the current one; the two agree while ``lr`` is constant, not
    under "invscaling" or "adaptive". As in scikit-learn, momentum may be 1, and Nesterov with
    momentum 0 is plain SGD.
    """

    HYPERPARAMS = {**SGD.HYPERPARAMS, "momentum": Hyper(0.0, high=1.0, high_open=False)}

    def __init__(self, lr, momentum=0.9, nesterov=True, weight_decay=0.0):
        # Optimizer's checks only: SGD's own refuses Nesterov without momentum
        Optimizer.__init__(self, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)

    def step(self, p, g, state, decay):
        tmp = self._tmp(p)
        d = self._decayed(p, g, decay, tmp)
        v = state.get("velocity")
        if v is None:
            v = state["velocity"] = np.zeros_like(p)
        d *= self.lr
        v *= self.momentum
        v -= d
        if self.nesterov:
            np.multiply(v, self.momentum, out=tmp)
            tmp -= d
            p += tmp
        else:
            p += v


class MLPLoss(Loss):
    r"""The loss ``MLPClassifier`` reports in ``loss_curve_`` and stops on, around the loss that trains.

    Notes
    -----
    ``forward`` gives ``L + alpha / (2 n) * sum ||W||^2`` over the weights ``W`` (``coefs_``) for a batch of
    n rows, and for a classifier ``L`` takes the log of probabilities clipped to ``[eps, 1 - eps]``,
    ``eps`` the machine epsilon of the outputs' dtype (a sample's loss is at most ``-log eps``: 36 in
    float64). ``backward`` is the base loss's unclipped ``dL/dz = (p - t) / n``, which is scikit-learn's
    ``delta = p - y``; the L2 gradient comes from the optimizer's weight decay.
    """

    def __init__(self, base, model, alpha, clip):
        super().__init__()
        self.base, self.model, self.alpha, self.clip = base, model, float(alpha), clip

    def targets(self, labels, n_outputs):
        return self.base.targets(labels, n_outputs)

    def labels(self, outputs):
        return self.base.labels(outputs)

    def forward(self, pred, target):
        value = self.base.forward(pred, target)          # also caches what backward needs
        if self.clip:
            value = self._clipped_log_loss(np.asarray(pred), np.asarray(target))
        if self.alpha:
            squares = sum(float(np.vdot(m.params["W"], m.params["W"])) for m in linears_of(self.model))
            value += 0.5 * self.alpha * squares / len(pred)
        return value

    def _clipped_log_loss(self, z, target):
        if z.shape[1] == 1:
            # scipy's expit, as scikit-learn: sigmoid's tanh form loses the relative precision of
            # p near 0 (p = 1e-12 comes out 1e-3 off), which moves the clipped loss and so the stop
            p1 = expit(z[:, 0])
            p = np.column_stack([1 - p1, p1])
        else:
            p = self.base.proba(z)
        eps = np.finfo(p.dtype).eps
        picked = p[np.arange(len(p)), target.reshape(len(p)).astype(np.intp)]
        return float(-np.log(np.clip(picked, eps, 1 - eps)).mean())

    def backward(self):
        return self.base.backward()


class SquaredError(Loss):
    r"""scikit-learn's ``squared_error``, the loss of ``MLPRegressor``.

    Notes
    -----
    ``L = mean((y - t)^2) / 2`` over every element; ``dL/dy = (y - t) / N`` (N, k) for N rows. With k
    outputs the gradient sums over them while ``L`` averages, as scikit-learn's ``delta = y - t`` does.
    """

    def forward(self, pred, target):
        y, t = self._same_shape(pred, target)
        self._cache = (y, t)
        return float(np.mean(np.square(y - t)) / 2)

    def backward(self):
        y, t = self._cached()
        return (y - t) / len(y)


class LearningRate(Schedule):
    """``MLPClassifier``'s ``learning_rate`` for sgd ("constant" for adam, which ignores it).

    "constant": ``learning_rate_init``. "invscaling": after each epoch, ``learning_rate_init /
    (t + 1) ** power_t`` with t the samples seen so far. "adaptive": divided by 5 each time
    ``n_iter_no_change`` epochs pass without improvement; training stops only once it is <= 1e-6.
    """

    def __init__(self, optimizers, kind, learning_rate_init, power_t):
        super().__init__(optimizers, epochs=0)
        self.kind, self.learning_rate_init, self.power_t = kind, float(learning_rate_init), float(power_t)
        self.rate = self.learning_rate_init

    def set_epoch(self, epoch):
        for opt in self.optimizers:
            opt.lr = self.rate
        return self.rate

    def epoch_ended(self, samples_seen):
        """``iteration_ends`` of scikit-learn's SGD optimizer."""
        if self.kind == "invscaling":
            self.rate = self.learning_rate_init / (samples_seen + 1) ** self.power_t

    def should_stop(self):
        """Called when ``n_iter_no_change`` is exceeded: stop, or (adaptive) go on at a fifth of the rate."""
        if self.kind != "adaptive" or self.rate <= 1e-6:
            return True
        self.rate /= 5.0
        return False


class MLPEpochs(Callback):
    """``MLPClassifier``'s bookkeeping, as a trainer callback.

    Before each update, sets the weight decay for the batch's size (scikit-learn divides the L2
    gradient ``alpha * W`` by the rows of the batch, the last one included). After each epoch,
    appends the training loss to ``loss_curve``, counts the samples seen (``t``), and watches the
    training loss, or, when ``score`` is set (early_stopping), the validation score, which it appends
    to ``validation_scores``; once ``monitor.wait`` exceeds ``patience`` (``n_iter_no_change``) the
    learning rate decides whether training stops (for ``partial_fit``, which runs one epoch anyway,
    only an adaptive rate is affected). With ``score``, the weights of the best validation score are
    restored when training ends.
    """

    def __init__(self, mode, tol, early_stopping, alpha):
        # scikit-learn's rule: improved iff loss <= best - tol; the best follows any better value
        self.monitor = Monitor(mode, tol, inclusive=True, best_follows="any")
        self.loss_curve, self.validation_scores = [], ([] if early_stopping else None)
        self.alpha, self.t = float(alpha), 0
        self.patience = self.score = self.best_state = None

    def on_before_backward(self, trainer, batch, loss):
        decay = weight_decay_from_alpha(self.alpha, len(trainer.batch_x))
        for opt in trainer.schedule.optimizers:
            opt.weight_decay = decay

    def on_epoch_end(self, trainer, row):
        self.loss_curve.append(row["train_loss"])
        self.t += trainer.n_train
        value = row["train_loss"] if self.score is None else self.score()
        if self.score is not None:
            self.validation_scores.append(value)
            if self.monitor.gain(value) > 0:      # strictly better: a tie keeps the earlier weights
                self.best_state = trainer.model.state_dict()
        self.monitor.update(value)
        trainer.schedule.epoch_ended(self.t)
        if self.monitor.wait > self.patience:
            if trainer.schedule.should_stop():
                trainer.stop_training = True
            else:
                self.monitor.wait = 0

    def on_train_end(self, trainer):
        if self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)
