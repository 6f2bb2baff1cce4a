"""One trial, as a worker runs it: train a resolved config and send back its run directory and outcome.

:func:`run_trial` never raises for a trial that fails: a bad combination, a diverged run or a bug
in a plugin is an outcome (``state == "fail"`` with the message), so the sweep goes on. It writes
into a temporary folder and returns the files, so a Dask worker on another machine needs no
shared disk with the driver.
"""

import tempfile
import time
from pathlib import Path

from ..callbacks import Callback
from ..errors import LayerwiseError
from ..monitor import mode_of


def best_of(values, metric):
    """The best of a trial's per-epoch values of ``metric`` (max of accuracies, min of losses)."""
    return (min if mode_of(metric) == "min" else max)(values) if values else None


def kept_value(values, kept_epoch, metric):
    """A finished trial's result: ``metric`` at the epoch whose weights its run keeps (``kept_epoch`` of its
    summary: the last epoch, or the best one early stopping restores), so that the value a trial is ranked
    by, its test accuracy and the model ``best.yaml`` trains again are one model's (a pruned trial keeps
    the epoch it was stopped at). Without a kept epoch (a failed trial, a summary from before kept_epoch)
    the best epoch's value."""
    if kept_epoch is not None and 1 <= kept_epoch <= len(values):
        return values[kept_epoch - 1]
    return best_of(values, metric)


class Report(Callback):
    """Record ``metric`` after each epoch and, given a pruning snapshot, stop a trial Optuna's pruner rejects.

    Parameters
    ----------
    metric : str
        A key of the epoch's row (``val_accuracy``, ``val_loss``).
    pruning : dict, optional
        ``{"direction": "maximize", "trials": [FrozenTrial, ...]}``: the study's finished trials when
        this one started. The worker rebuilds them in memory and asks Optuna's ``MedianPruner``
        about this trial after each epoch, with the numbers the driver would use.
    """

    def __init__(self, metric, pruning=None):
        self.metric, self.values, self.pruned_at = metric, [], None
        self.trial = None
        if pruning is not None:
            import optuna
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            study = optuna.create_study(direction=pruning["direction"], pruner=optuna.pruners.MedianPruner(),
                                        sampler=optuna.samplers.RandomSampler(seed=0))
            study.add_trials(pruning["trials"])
            self.trial = study.ask()

    def on_epoch_end(self, trainer, row):
        if self.metric not in row:
            raise LayerwiseError(f"the sweep metric {self.metric} is not among the epoch's metrics "
                                 f"({', '.join(k for k in row if k.startswith('val_'))}); choose another --metric.")
        self.values.append(float(row[self.metric]))
        if self.trial is not None:
            self.trial.report(self.values[-1], trainer.epoch)
            if self.trial.should_prune():
                self.pruned_at = trainer.epoch
                trainer.stop_training = True


class StopRequested(Exception):
    """The driver has given the trial up (Ctrl-C: it queued the trial again); the worker stops it."""


class StopSignal(Callback):
    """Stop the trial once ``is_set()`` says the driver has given it up (Ctrl-C, or the driver is gone).

    Dask cannot cancel a task that already runs, and a local worker whose driver was killed has no one
    to tell it: the trial asks between batches, at most once every ``every`` seconds (on Dask one round
    trip to the scheduler), and stops through an exception, so its temporary folder is removed.
    """

    def __init__(self, is_set, every=1.0):
        self.is_set, self.every = is_set, every
        self.next = time.monotonic() + every

    def on_batch_end(self, trainer, step, loss):
        now = time.monotonic()
        if now < self.next:
            return
        self.next = now + self.every
        if self.is_set():
            raise StopRequested(f"the sweep driver gave the trial up at epoch {trainer.epoch + 1}")


def _stop_check(task):
    """``is_set()`` for the trial's :class:`StopSignal`: a local worker's flag, or the Dask event named in
    ``task["stop_event"]`` (set by the driver); None when neither is given."""
    if task.get("should_stop") is not None:
        return task["should_stop"]
    name = task.get("stop_event")
    if not name:
        return None
    event = []

    def is_set():
        if not event:
            from distributed import Event
            event.append(Event(name))
        return event[0].is_set()
    return is_set


def run_trial(task):
    """Train ``task["config"]`` (a resolved config dict) and return the outcome.

    Parameters
    ----------
    task : dict
        ``number``, ``config``, ``metric``, ``pruning`` (see :class:`Report`), ``run_dir`` (where the
        driver will put the files, for messages) and ``stop_event`` (on Dask) or ``should_stop`` (a local
        worker's flag), see :class:`StopSignal`.

    Returns
    -------
    dict
        ``state`` ("complete", "pruned" or "fail"), ``message`` (why it failed), ``values`` (the
        metric per epoch), ``summary`` (as in summary.json), ``files`` (relative path -> bytes of
        the run directory, also for a failed trial as far as it got) and ``seconds``.
    """
    from .. import run
    from ..config import load_config
    start = time.perf_counter()
    outcome = {"state": "fail", "message": None, "values": [], "summary": None, "files": {}}
    with tempfile.TemporaryDirectory(prefix="layerwise-trial-") as tmp:
        out = Path(tmp) / "run"
        try:
            report = Report(task["metric"], task.get("pruning"))
            outcome["values"] = report.values
            config = load_config(task["config"], source=f"trial {task['number']}")
            is_set = _stop_check(task)
            stop = [StopSignal(is_set)] if is_set is not None else []
            exp = run.fit(config, out=out, progress="off", callbacks=[report, *stop])
            outcome.update(state="pruned" if report.pruned_at else "complete", summary=exp.summary)
        except LayerwiseError as e:
            outcome["message"] = str(e)
        except Exception as e:  # a bug or a plugin's own error: recorded, and the sweep goes on
            outcome["message"] = f"{type(e).__name__}: {e}"
        if outcome["message"]:   # the folder it names is where the driver puts the files
            outcome["message"] = outcome["message"].replace(str(out), task["run_dir"])
        if out.is_dir():
            outcome["files"] = {p.relative_to(out).as_posix(): p.read_bytes()
                                for p in sorted(out.rglob("*")) if p.is_file()}
    outcome["seconds"] = time.perf_counter() - start
    return outcome
