"""The sweep driver: plan and validate, open the study, ask Optuna for trials, run them, tell it the results.

The driver is the only writer of the study. It asks for a trial, validates the trial's config,
hands it to a pool (local processes or Dask) and, when the outcome comes back, writes the trial's
run directory and tells Optuna. Ctrl-C (or any error in the driver) stops submitting, stops the
running trials and queues them again (``enqueue_trial`` with their parameters), so the study stays
consistent and the same command resumes without rerunning a finished trial or going past ``trials``.
"""

import hashlib
import json
import math
import os
import re
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..checkpoint import atomic_write
from ..errors import ConfigError, LayerwiseError
from ..rundir import held_run_files
from . import report
from .plan import make_plan, require, show
from .space import SAMPLERS
from .trial import kept_value

POLL_SECONDS = 1.0
OPEN_ATTEMPTS = 6     # a study that drivers started together open: see _lost_a_race
DRIVER = f"{socket.gethostname()}:{os.getpid()}"


# -- the study ------------------------------------------------------------------------------------
def check_sweep_out(out):
    """A ConfigError unless ``out`` is new, empty, or a sweep's folder (sweep.json): a sweep writes
    best.yaml, sweep.* and trials/ there, and must not mix them into a run or overwrite other files."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; --out names the sweep's folder.")
    if not out.is_dir() or (out / "sweep.json").is_file() or (out / "sweep.db").is_file():
        return          # a sweep's folder (sweep.db alone: stopped before its marker was written)
    held = held_run_files(out)
    if held:
        raise ConfigError(f"{out} holds a run ({', '.join(held)}); give the sweep a folder of its own.")
    others = sorted(p.name for p in out.iterdir())
    if others:
        raise ConfigError(f"{out} is not empty ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}) and "
                          "holds no sweep; give a new or empty folder for the sweep.")


def open_study(plan, out, storage=None):
    """The Optuna study of ``plan``: in ``out/sweep.db`` (SQLite) unless ``storage`` names another URL."""
    optuna = require("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    marker, identity = out / "sweep.json", plan.identity
    if marker.is_file():
        held = json.loads(marker.read_text())
        if held.get("identity") != identity:
            from ..run import changed_keys
            changed = changed_keys(held["definition"], plan.definition) if "definition" in held else []
            what = f"; this one changes {', '.join(changed)}" if changed else ""
            raise ConfigError(f"{out} holds another sweep ({held.get('method')} over "
                              f"{', '.join(held.get('space', {}))} of {held.get('config')}{what}); choose another "
                              "--out.")
    if marker.is_file() and "storage_sha256" in held and not _same_storage(held["storage_sha256"], storage, out):
        where = held.get("storage_shown") or f"its own {out / 'sweep.db'}"
        given = f"--storage {_shown(storage)}" if storage else "no --storage"
        raise ConfigError(f"{out} holds this sweep with its study in {where}, and {given} was given: running it "
                          "would train every trial again over the trials already there. Give the same --storage to "
                          "resume it, or choose another --out.")
    url = storage or f"sqlite:///{(out / 'sweep.db').resolve()}"
    for attempt in range(OPEN_ATTEMPTS):
        try:
            study = optuna.create_study(storage=url, study_name=f"{plan.base.name}-{identity}", load_if_exists=True,
                                        direction=plan.direction,
                                        sampler=SAMPLERS[plan.method](plan.space, plan.base.seed))
            break
        except Exception as e:  # the URL's driver, server or file: Optuna and SQLAlchemy raise many kinds
            if attempt + 1 < OPEN_ATTEMPTS and _lost_a_race(e):
                time.sleep(0.2 * (attempt + 1))
                continue
            raise LayerwiseError(f"--storage {_shown(storage) if storage else url}: Optuna cannot open it "
                                 f"({type(e).__name__}: {_masked(' '.join(str(e).split()), storage)})") from None
    atomic_write(marker, json.dumps({"identity": identity, "study": study.study_name, "config": plan.base.source,
                                     "method": plan.method, "metric": plan.metric,
                                     "space": {k: str(s) for k, s in plan.space.items()},
                                     "definition": plan.definition, "storage_sha256": _digest(storage),
                                     "storage_shown": _shown(storage) if storage else None}, indent=2) + "\n")
    return study


def _lost_a_race(error):
    """Whether ``error`` is what a driver gets when another one, started at the same moment on the same new
    storage, is creating its tables (``UNIQUE constraint failed: alembic_version``, ``table ... already
    exists``) or holds the SQLite file's lock: opening it again a moment later finds them made."""
    text = str(error).lower()
    return type(error).__name__ in ("IntegrityError", "OperationalError") and (
        "alembic_version" in text or "already exists" in text or "locked" in text)


def _digest(storage):
    """What sweep.json keeps of ``--storage`` to recognize it (a URL may hold a password): the sha256 of the
    URL with a SQLite file's path made absolute (two spellings of one file agree, one relative spelling from
    two folders does not); None without ``--storage``: the folder's own sweep.db, wherever the folder is."""
    if not storage:
        return None
    url = storage
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        url = "sqlite:///" + os.path.realpath(os.path.expanduser(url[len("sqlite:///"):]))
    return hashlib.sha256(url.encode()).hexdigest()


def _same_storage(held, storage, out):
    """Whether ``storage`` (None: none given) opens the study that sweep.json's digest ``held`` recorded:
    the folder's own sweep.db given either way, and digests of the raw URL (written before paths were
    made absolute) count too."""
    own = _digest(f"sqlite:///{out / 'sweep.db'}")
    given = _digest(storage) if storage else own
    raw = hashlib.sha256(storage.encode()).hexdigest() if storage else None
    return held in {given, raw} or (held is None and given == own)


def _shown(storage):
    """``--storage`` with any password masked, for messages and sweep.json."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(storage).render_as_string(hide_password=True)
    except Exception:       # noqa: BLE001 - not a URL SQLAlchemy parses: show only its scheme
        return storage.partition("://")[0] + "://..."


def _masked(text, storage):
    """``text`` with ``storage`` (and its ``user:password@`` part, as written or decoded) shown password-masked:
    not every occurrence of the password's characters (a short one would mask letters all over the text)."""
    if not storage:
        return text
    text = text.replace(storage, _shown(storage))
    written = re.match(r"^[^:/]+://([^:@/]*):([^@/]*)@", storage)
    if written:
        user, password = written.groups()
        from urllib.parse import unquote
        for p in dict.fromkeys((password, unquote(password))):
            if p:
                text = text.replace(f"{user}:{p}@", f"{user}:***@")
    return text


def _requeue(study, trial):
    """Fail an interrupted trial without an error message (so it is not counted) and queue its parameters."""
    from optuna.trial import TrialState
    study.tell(trial.number, state=TrialState.FAIL)
    study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # alive, and someone else's
        pass
    return True


def recover_stale(study):
    """Queue again the running trials of a driver on this machine that no longer exists (killed hard)."""
    from optuna.trial import TrialState
    host = socket.gethostname()
    stale = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        where, _, pid = t.user_attrs.get("driver", "").rpartition(":")
        if where == host and pid.isdigit() and not _alive(int(pid)):
            _requeue(study, t)
            stale.append(t.number)
    return stale


def started(study):
    """Trials that count against the budget and have started: finished or running, not interrupted."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if not report.is_interrupted(t) and t.state.name != "WAITING")


# -- one trial ------------------------------------------------------------------------------------
def run_dir_of(trial):
    """A trial's run directory, relative to the sweep's folder."""
    return f"trials/{trial.number:04d}"


def _task(plan, study, trial, out):
    from optuna.trial import TrialState
    from ..run import _resolved
    config = plan.trial_config(trial.params)
    pruning = None
    if plan.prune:
        pruning = {"direction": plan.direction, "trials": study.get_trials(states=(TrialState.COMPLETE,))}
    return {"number": trial.number, "config": _resolved(config), "metric": plan.metric, "pruning": pruning,
            "run_dir": str(out / run_dir_of(trial))}


def _write_run_dir(folder, files):
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    for name, data in files.items():
        path = partial / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)


def record(study, plan, out, trial, outcome):
    """Write the trial's run directory and tell Optuna how it ended."""
    from optuna.trial import TrialState
    if outcome.get("files"):
        rel = run_dir_of(trial)
        _write_run_dir(out / rel, outcome["files"])
        trial.set_user_attr("run_dir", rel)
        trial.set_user_attr("out", str(Path(out).resolve()))    # drivers sharing a --storage: whose folder
    for step, value in enumerate(outcome["values"], 1):
        trial.report(value, step)
    summary = outcome.get("summary") or {}
    for key in ("test_accuracy", "test_rmse", "train_seconds", "kept_epoch"):
        if summary.get(key) is not None:
            trial.set_user_attr(key, summary[key])
    value = kept_value(outcome["values"], summary.get("kept_epoch"), plan.metric) if outcome["values"] else None
    if outcome["state"] == "complete" and value is not None and not math.isfinite(value):
        # Optuna fails a NaN value itself, with no message: the report would take it for an interrupted trial
        outcome = {**outcome, "state": "fail",
                   "message": f"its {plan.metric} is {value} at the epoch its run keeps ({summary.get('kept_epoch')})"}
    if outcome["state"] == "fail" or not outcome["values"]:
        trial.set_user_attr("error", outcome.get("message") or "the trial reported no metric")
        study.tell(trial, state=TrialState.FAIL)
    elif outcome["state"] == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, value)


# -- the loop -------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """What :func:`sweep` leaves: the folder, the study, one row per trial, and the best row."""

    out: Path
    study: object
    rows: list
    best: dict
    metric: str


class _Progress:
    """A line per finished trial, and a bar over the trials on a terminal."""

    def __init__(self, plan, progress, stream, done):
        self.plan, self.stream, self.bar, self.best = plan, stream, None, None
        self.quiet = progress == "off"
        if progress == "bar" or (progress == "auto" and sys.stderr.isatty()):
            from tqdm import tqdm
            self.bar = tqdm(total=plan.trials, initial=done, unit="trial", file=sys.stderr, dynamic_ncols=True)

    def line(self, text):
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text, file=self.stream or sys.stdout)
        else:
            print(text, file=self.stream or sys.stdout, flush=True)

    def trial(self, row, done, rows):
        """The line of the trial ``row``; its best is over ``rows``, the whole study (earlier drivers' too)."""
        m = self.plan.metric
        # the rule of sweep.md and best.yaml, ties to the lower trial number included
        self.best = next((r for r in report.ranked(rows, m) if r["state"] == "complete"), self.best)
        params = "  ".join(f"{k}={show(row[k])}" for k in self.plan.space)
        value = f"{m} {row[m]:.4f}" if row[m] is not None else f"{m} -"
        best = f"best {self.best[m]:.4f} (trial {self.best['trial']})" if self.best else "best -"
        state = {"complete": "", "pruned": "  pruned", "fail": f"  FAILED: {row['error']}"}[row["state"]]
        self.line(f"trial {row['trial']:>4} [{done}/{self.plan.trials}]  {params}  {value}  {best}{state}")
        if self.bar is not None:
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def sweep(config, *, params=(), overrides=(), method=None, trials=None, metric=None, prune=None, jobs=None,
          dask=None, storage=None, out=None, progress="auto", stream=None, on_trial=None):
    """Search over config keys with Optuna; train each trial on local processes or a Dask cluster.

    Parameters
    ----------
    config : str, Path or dict
        The experiment; its ``sweep:`` section gives defaults for what follows.
    params : sequence of "KEY=SPEC"
        ``optimizer.lr=loguniform(1e-4,1e-1)``, ``model.layers[1].units=32,64,128``; replaces the
        section's parameters when given.
    overrides : sequence of "KEY=VALUE"
        ``--set`` for every trial.
    method : {"grid", "random", "tpe"}, optional
        Default: grid when every parameter is a list, tpe otherwise.
    trials : int, optional
        The total, over resumes (default: the whole grid, or 20).
    metric : {"val_accuracy", "val_loss"}, optional
        The best epoch's value of each trial is its result.
    prune : bool, optional
        Stop trials that Optuna's MedianPruner finds clearly behind.
    jobs : int, optional
        Local worker processes (default one per core).
    dask : str, optional
        A Dask scheduler address; trials go there instead of local processes.
    storage : str, optional
        An Optuna storage URL (default ``sqlite:///OUT/sweep.db``).
    out : str or Path, optional
        Default ``runs/<name>-sweep-<8 hex digits of the sweep's definition>``, so the same command
        resumes the same sweep.
    progress : "auto", "bar", "lines" or "off"
    on_trial : callable, optional
        Called with each finished trial's row.

    Returns
    -------
    SweepResult
    """
    require("optuna")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ConfigError(f"--jobs must be an int >= 1, got {jobs!r}.")
    if dask:
        require("distributed", "layerwise sweep --dask")
        if jobs is not None:
            raise ConfigError("--jobs sets local workers; with --dask the cluster's workers and threads decide.")
    plan = make_plan(config, params=params, overrides=overrides, method=method, trials=trials, metric=metric,
                     prune=prune)
    out = Path(out) if out else Path("runs") / f"{plan.base.name}-sweep-{plan.identity}"
    check_sweep_out(out)
    notes, pool = [], None
    if dask:        # connected first: a scheduler that does not answer leaves no study behind in --out
        from .cluster import DaskPool
        pool, where = DaskPool(dask, notes.append), f"the Dask cluster at {dask}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        study = open_study(plan, out, storage)
    except BaseException:
        if pool is not None:
            pool.close()
        raise
    stale = recover_stale(study)
    done = started(study)
    printer = _Progress(plan, progress, stream, done)
    if stale:
        printer.line(f"queued again the trials {', '.join(map(str, stale))} of a driver that is gone")
    if pool is not None:
        for note in notes:
            printer.line(note)
        pool.log = printer.line
    else:
        from .local import LocalPool, cores
        pool = LocalPool(max(1, min(jobs or cores(), plan.trials - done)), printer.line)
        where = f"{pool.jobs} local worker{'s' * (pool.jobs > 1)} x {pool.threads} BLAS thread{'s' * (pool.threads > 1)}"
    printer.line(f"sweep of {plan.base.source}: {plan.method} over {', '.join(plan.space)}, {plan.trials} trials "
                 f"({done} done), {plan.metric} {plan.direction[:-1]}ed{', pruned' if plan.prune else ''}, on "
                 f"{where} -> {out}")
    distributions = {key: spec.distribution() for key, spec in plan.space.items()}
    running, finished, asked = {}, [], None
    try:
        while True:
            finished = []
            while not finished and len(running) < pool.slots and started(study) < plan.trials:
                asked = study.ask(distributions)
                asked.set_user_attr("driver", DRIVER)
                try:
                    task = _task(plan, study, asked, out)
                except ConfigError as e:   # each value is valid, this combination is not
                    finished.append((asked, {"state": "fail", "message": str(e), "values": [], "files": {}}))
                else:
                    running[pool.submit(task)] = asked
                asked = None
            if not finished:
                if not running:
                    break
                finished = [(running.pop(handle), outcome) for handle, outcome in pool.wait(POLL_SECONDS)]
            while finished:
                trial, outcome = finished[0]
                record(study, plan, out, trial, outcome)
                finished.pop(0)
                rows = report.trial_rows(study, list(plan.space), plan.metric, out)
                report.write_tables(out, rows, list(plan.space), plan.metric)
                row = next(r for r in rows if r["trial"] == trial.number)
                printer.trial(row, started(study) - len(running), rows)
                if on_trial is not None:
                    on_trial(row)
    except BaseException as e:
        pool.close(kill=True)
        live = {t.number for t in study.get_trials(deepcopy=False) if t.state.name == "RUNNING"}
        for trial in [*running.values(), *(t for t, _ in finished), *([asked] if asked else [])]:
            if trial.number in live:
                _requeue(study, trial)
        if isinstance(e, (KeyboardInterrupt, BrokenPipeError)):     # Ctrl-C, or the reader of the output left
            e.sweep_dir, e.done, e.total = out, started(study), plan.trials
        raise
    else:
        pool.close()
    finally:
        printer.close()
        rows = report.trial_rows(study, list(plan.space), plan.metric, out)
        report.write_tables(out, rows, list(plan.space), plan.metric)
        best = report.write_best(out, rows, plan.metric)
        report.plot_sweep(out, rows, plan.space, plan.metric)
    return SweepResult(out, study, rows, best, plan.metric)
