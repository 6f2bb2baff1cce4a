"""What a sweep searches: parameter specs (``0.01,0.05,0.1``, ``loguniform(1e-4,1e-1)``, ...) and samplers.

A spec is parsed once, here, for the command line (``--param KEY=SPEC``) and for the config's
``sweep.parameters`` alike. Nothing in this module imports Optuna until a distribution or a sampler
is asked for, so that configs validate without it.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..config_errors import did_you_mean
from ..config_yaml import parse_scalar
from ..errors import ConfigError

SPEC_HELP = "a list such as 0.01,0.05,0.1, or uniform(a,b), loguniform(a,b), int(a,b) or int(a,b,log)"


@dataclass(frozen=True)
class Spec:
    """One parameter's search space.

    Parameters
    ----------
    kind : {"choice", "uniform", "loguniform", "int"}
    values : tuple
        The choices (``kind == "choice"``).
    low, high : float or int
        The bounds, both included (the other kinds).
    log : bool
        Sample on a log scale (``loguniform``; ``int(a,b,log)``).
    """

    kind: str
    values: tuple = ()
    low: float = None
    high: float = None
    log: bool = False

    def __str__(self):
        if self.kind == "choice":
            return ",".join(map(str, self.values))
        return f"{self.kind}({self.low},{self.high}{',log' if self.kind == 'int' and self.log else ''})"

    def probes(self):
        """The values to validate the config with before anything runs: every choice, or both bounds."""
        return self.values if self.kind == "choice" else (self.low, self.high)

    def distribution(self):
        """The Optuna distribution of this space."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
        if self.kind == "choice":
            return CategoricalDistribution(self.values)
        if self.kind == "int":
            return IntDistribution(self.low, self.high, log=self.log)
        return FloatDistribution(self.low, self.high, log=self.log)


def _number(text, integer=False):
    value = parse_scalar(text.strip()) if text.strip() else None
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise ValueError(f"{text.strip() or 'an empty bound'} is not {'an integer' if integer else 'a number'}")
    if not math.isfinite(value):
        raise ValueError(f"the bounds must be finite, got {value}")
    return value


def _range(kind, args):
    log = kind == "loguniform"
    if kind == "int" and len(args) == 3:
        if args[2].strip() != "log":
            raise ValueError(f"the third argument of int(a,b,log) can only be 'log', got {args[2].strip()!r}")
        args, log = args[:2], True
    if len(args) != 2:
        raise ValueError(f"{kind} takes two bounds (a,b)" + (" and an optional 'log'" if kind == "int" else ""))
    low, high = (_number(a, integer=kind == "int") for a in args)
    if not low < high:
        raise ValueError(f"{kind}(a,b) needs a < b")
    if log and low <= 0:
        raise ValueError("a log scale needs 0 < a < b")
    if kind == "int":
        return Spec("int", low=low, high=high, log=log)
    return Spec("loguniform" if log else "uniform", low=float(low), high=float(high), log=log)


RANGES = ("uniform", "loguniform", "int")


def _choices(values):
    for v in values:
        if not (v is None or isinstance(v, (bool, int, float, str))):
            raise ValueError(f"a list item must be a number, a string, true/false or null; {v!r} is not")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"a list item must be finite, got {v}")
    repeated = [v for i, v in enumerate(values) if v in values[:i]]
    if repeated:
        raise ValueError(f"the list repeats {repeated[0]!r}")
    if not values:
        raise ValueError("the list is empty")
    return Spec("choice", values=tuple(values))


def parse_spec(spec):
    """A :class:`Spec` from ``"0.01,0.05"``, ``"loguniform(1e-4,1e-1)"``, ... or a YAML list of values.

    Raises ValueError saying what is wrong (the caller names where the spec came from).
    """
    if isinstance(spec, (list, tuple)):
        return _choices(list(spec))
    if not isinstance(spec, str):
        return _choices([spec])
    text = spec.strip()
    head, paren, rest = text.partition("(")
    if paren:
        kind = head.strip()
        if kind not in RANGES:
            hint = did_you_mean(kind, RANGES).strip()
            hint = f" ({hint[0].lower()}{hint[1:]})" if hint else ""
            raise ValueError(f"unknown spec {kind!r}{hint}; expected {SPEC_HELP}")
        if not rest.endswith(")"):
            raise ValueError(f"{kind}(...) is missing its closing parenthesis")
        return _range(kind, rest[:-1].split(","))
    if text.startswith("["):                # a YAML list, as sweep.parameters takes it: [0.1, 0.2]
        values = parse_scalar(text, "the list")
        return _choices(values if isinstance(values, list) else [values])
    return _choices([parse_scalar(item.strip(), "the value") for item in text.split(",")])


def parse_param(assignment):
    """``("optimizer.lr", Spec)`` from a ``--param KEY=SPEC``; a ConfigError names the argument."""
    key, sep, spec = assignment.partition("=")
    if not sep or not key.strip() or not spec.strip():
        raise ConfigError(f"--param {assignment}: expected KEY=SPEC, such as optimizer.lr=loguniform(1e-4,1e-1).")
    try:
        return key.strip(), parse_spec(spec)
    except (ValueError, ConfigError) as e:
        raise ConfigError(f"--param {assignment}: {str(e).rstrip('.')}.") from None


def check_spec(value):
    """Pydantic validator of a ``sweep.parameters`` entry: the value stays as written."""
    from pydantic_core import PydanticCustomError
    if isinstance(value, dict):             # --set sweep.parameters.optimizer.lr=... splits the key at its dots
        raise PydanticCustomError("sweep_spec", "is a mapping, not a spec: sweep.parameters keys keep their dots "
                                  "(optimizer.lr: [0.1, 0.2] in the file); on the command line use --param "
                                  "optimizer.lr=0.1,0.2")
    try:
        parse_spec(value)
    except (ValueError, ConfigError) as e:
        raise PydanticCustomError("sweep_spec", "{message}", {"message": str(e).rstrip(".")}) from None
    return value


# -- samplers: config name -> Optuna sampler ---------------------------------------------------------
def _grid(space, seed):
    from optuna.samplers import GridSampler

    class AskAndTellGrid(GridSampler):
        """Optuna's GridSampler without its ``after_trial``, which calls ``study.stop()``: that works only
        inside ``study.optimize``, and the driver stops at the size of the grid itself."""

        def after_trial(self, study, trial, state, values):
            pass

    return AskAndTellGrid({key: list(spec.values) for key, spec in space.items()}, seed=seed)


def _seed_rng(sampler, seed):
    """Seed an Optuna sampler's own RandomState (``_rng``, lazy or not); False if it has none."""
    state = getattr(sampler, "_rng", None)
    rng = getattr(state, "rng", state)
    if not isinstance(rng, np.random.RandomState):
        return False
    rng.seed(seed)
    return True


def _seeded_per_trial(cls, seed, **kwargs):
    """``cls(seed=seed, **kwargs)`` whose random draws for trial ``n`` come from ``(seed, n)``.

    A sampler seeded once replays the same draws in every process that builds it: a resumed sweep, or
    a second driver on the same study, would run the first driver's points again. Trial numbers are
    unique in a study (the storage hands them out), so seeding from them gives every trial its own
    draws, and the same sweep run again the same ones.
    """

    class PerTrial(cls):
        def before_trial(self, study, trial):
            super().before_trial(study, trial)
            trial_seed = int(np.random.SeedSequence([seed, trial.number]).generate_state(1)[0])
            inner = getattr(self, "_random_sampler", None)     # TPE's start-up draws
            if not (_seed_rng(self, trial_seed) and (inner is None or _seed_rng(inner, trial_seed))):
                self.reseed_rng()      # an Optuna without these attributes: fresh entropy, still unique

    PerTrial.__name__ = PerTrial.__qualname__ = cls.__name__
    return PerTrial(seed=seed, **kwargs)


def _random(space, seed):
    from optuna.samplers import RandomSampler
    return _seeded_per_trial(RandomSampler, seed)


def _tpe(space, seed):
    from optuna.samplers import TPESampler
    # constant_liar: trials still running count as bad guesses, so parallel asks spread out
    return _seeded_per_trial(TPESampler, seed, constant_liar=True)


SAMPLERS = {"grid": _grid, "random": _random, "tpe": _tpe}


def grid_size(space):
    """The number of combinations of a space of lists."""
    return math.prod(len(spec.values) for spec in space.values())
