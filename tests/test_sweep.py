"""``layerwise sweep`` end to end: local worker processes, a Dask LocalCluster, and a Dask cluster started from
the command line on loopback; failed trials, killed workers, Ctrl-C and resume, best.yaml."""

import contextlib
import csv
import itertools
import json
import os
import socket
import subprocess
import sys

import pytest
import yaml

from layerwise.cli import main
from layerwise.errors import ConfigError
from layerwise.sweep import sweep

pytest.importorskip("optuna")
distributed = pytest.importorskip("distributed")

SMALL = {
    "name": "tiny", "seed": 0, "data": {"dataset": "digits"},
    "model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 16}, {"type": "relu"},
                         {"type": "linear", "units": 10}]},
    "optimizer": {"type": "sgd", "lr": 0.1}, "training": {"epochs": 1, "batch_size": 64},
}
GRID = ["optimizer.lr=0.05,0.2", "model.layers[1].units=8,16"]
LRS = ["optimizer.lr=0.05,0.1,0.2"]

# imported by every process that validates the config; kills the process unless it is the driver (the
# test), while the kill budget lasts, counting the kills in a file
KILLER = """
import os, signal
from pathlib import Path
kills = Path({kills!r})
if os.getpid() != {driver} and len(kills.read_text()) < {budget}:
    kills.write_text(kills.read_text() + "x")
    os.kill(os.getpid(), getattr(signal, {signals!r}[len(kills.read_text()) - 1]))
"""


def write(folder, data=SMALL, name="tiny.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


def killer_config(tmp_path, budget, signals=None):
    (tmp_path / "kills").write_text("")
    (tmp_path / "killer.py").write_text(KILLER.format(kills=str(tmp_path / "kills"), driver=os.getpid(),
                                                      budget=budget, signals=signals or ["SIGKILL"] * budget))
    return write(tmp_path, {**SMALL, "plugins": [str(tmp_path / "killer.py")]})


def table(out):
    with open(out / "sweep.csv") as f:
        return list(csv.DictReader(f))


def grid_params(rows):
    return sorted((float(r["optimizer.lr"]), int(r["model.layers[1].units"])) for r in rows)


FULL_GRID = sorted(itertools.product([0.05, 0.2], [8, 16]))


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as c:
        yield c


def test_a_grid_on_a_local_cluster_runs_every_combination_once_and_best_yaml_reproduces_its_trial(
        tmp_path, cluster, capsys):
    out = tmp_path / "sweep"
    result = sweep(write(tmp_path), params=GRID, dask=cluster.scheduler_address, out=out, progress="lines")
    rows = table(out)
    assert [r["state"] for r in rows] == ["complete"] * 4 and grid_params(rows) == FULL_GRID
    assert list(rows[0]) == ["trial", "state", "optimizer.lr", "model.layers[1].units", "val_accuracy",
                             "test_accuracy", "train_seconds", "run_dir", "error"]
    printed = capsys.readouterr().out
    assert printed.count("\ntrial ") == 4 and "[4/4]" in printed and "best " in printed
    md = (out / "sweep.md").read_text().splitlines()[4:]
    ranked = [float(line.split("|")[6]) for line in md]
    assert ranked == sorted(ranked, reverse=True)
    for name in ("sweep_metric.png", "sweep_params.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = result.best
    assert best["val_accuracy"] == max(float(r["val_accuracy"]) for r in rows)
    trial_dir = out / best["run_dir"]
    assert (out / "best.yaml").read_bytes() == (trial_dir / "config.yaml").read_bytes()

    assert main(["train", str(out / "best.yaml"), "--out", str(tmp_path / "again"), "--progress", "off"]) == 0
    again, trial = (json.loads((d / "summary.json").read_text()) for d in (tmp_path / "again", trial_dir))
    assert again["test_accuracy"] == trial["test_accuracy"] and again["best_val_accuracy"] == best["val_accuracy"]
    assert again["test_loss"] == trial["test_loss"]


def test_a_dask_worker_killed_mid_trial_gets_its_trial_run_on_another(tmp_path, cluster):
    path = killer_config(tmp_path, budget=1)
    result = sweep(path, params=["optimizer.lr=0.05,0.2"], dask=cluster.scheduler_address, out=tmp_path / "s",
                   progress="off")
    assert (tmp_path / "kills").read_text() == "x"
    assert [r["state"] for r in result.rows] == ["complete", "complete"]


def test_ctrl_c_on_a_dask_sweep_stops_the_trials_already_running(tmp_path, cluster):
    import time

    def interrupt(row):     # the short trial ends while the long one runs on the other worker
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(write(tmp_path), params=["training.epochs=1,100000"], dask=cluster.scheduler_address,
              out=tmp_path / "s", progress="off", on_trial=interrupt)
    with distributed.Client(cluster.scheduler_address) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = client.run(lambda dask_worker: dask_worker.state.executing_count)
            if not any(busy.values()):
                break
            time.sleep(0.2)
        assert not any(busy.values()), busy      # 100000 epochs would hold a worker for many minutes


def test_killed_local_workers_retry_once_then_fail_the_trial_and_the_sweep_goes_on(tmp_path, capsys, monkeypatch):
    """The first death is a SIGTERM from outside, the second a SIGKILL. A worker ends a SIGTERM as killed by it
    (it said 'exited with status 143'), after removing its trial's temporary folder."""
    path = killer_config(tmp_path, budget=2, signals=["SIGTERM", "SIGKILL"])
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    result = sweep(path, params=["optimizer.lr=0.05,0.2"], jobs=1, out=tmp_path / "s", progress="lines")
    states = sorted((r["state"], r["error"]) for r in result.rows)
    assert states == [("complete", None), ("fail", "its worker process killed by SIGKILL, on 2 attempts")]
    assert "its worker process killed by SIGTERM; retrying it on a new worker" in capsys.readouterr().out
    assert len(list((tmp_path / "tmp").iterdir())) == 1      # the SIGKILLed worker's: nothing can remove it


def test_failed_trials_are_recorded_with_their_message_and_the_sweep_goes_on(tmp_path):
    out = tmp_path / "s"
    # a grid point whose model cannot be built is refused before any trial runs (every grid point is built)
    with pytest.raises(ConfigError, match=r"with model.layers\[3\].units=7, optimizer.lr=0.1: .* outputs shape \(7,\)"):
        sweep(write(tmp_path), params=["model.layers[3].units=10,7", "optimizer.lr=0.1,1e12"], out=out)
    assert not out.exists()
    result = sweep(write(tmp_path), params=["optimizer.lr=0.1,1e12", "model.layers[1].units=8,16"], jobs=2, out=out,
                   progress="off")
    rows = {(r["optimizer.lr"], r["model.layers[1].units"]): r for r in result.rows}
    assert rows[0.1, 8]["state"] == rows[0.1, 16]["state"] == "complete"
    assert "Training stopped at epoch 1" in rows[1e12, 8]["error"]
    assert rows[1e12, 8]["error"].endswith(f"is in {out / rows[1e12, 8]['run_dir']}.")
    assert (out / rows[1e12, 8]["run_dir"] / "config.yaml").is_file()     # as far as it got
    md = (out / "sweep.md").read_text()
    assert md.splitlines()[4].split("|")[3].strip() == "complete" and "Training stopped at epoch 1" in md
    assert sum(r["state"] == "fail" for r in table(out)) == 2


def test_ctrl_c_requeues_running_trials_and_the_same_command_resumes_without_rerunning_any(tmp_path, capsys,
                                                                                           monkeypatch):
    path, out = write(tmp_path), tmp_path / "s"
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))       # the workers' temporary run folders

    def interrupt(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as e:
        sweep(path, params=LRS, jobs=2, out=out, progress="off", on_trial=interrupt)
    assert (e.value.done, e.value.total) == (1, 3)
    # the worker stopped in the middle of its trial removed that trial's folder (SIGTERM's default left it)
    assert list((tmp_path / "tmp").iterdir()) == []
    first = table(out)
    assert len(first) == 1 and first[0]["state"] == "complete"
    kept = (out / first[0]["run_dir"] / "summary.json").read_bytes()

    args = ["sweep", str(path), "--out", str(out), "--jobs", "2", "--progress", "lines"]
    assert main([*args, "--param", LRS[0]]) == 0
    assert "3 trials (1 done)" in capsys.readouterr().out
    rows = table(out)
    assert [r["state"] for r in rows] == ["complete"] * 3
    assert sorted(float(r["optimizer.lr"]) for r in rows) == [0.05, 0.1, 0.2]
    assert rows[0]["trial"] == first[0]["trial"] and (out / rows[0]["run_dir"] / "summary.json").read_bytes() == kept
    assert main([*args, "--param", LRS[0]]) == 0   # nothing left: nothing runs
    assert len(table(out)) == 3


def test_a_random_sweep_extended_later_draws_new_points_and_its_best_counts_the_earlier_trials(tmp_path):
    import io
    path, out = write(tmp_path), tmp_path / "s"
    lr = ["optimizer.lr=loguniform(0.01,0.5)"]
    sweep(path, params=lr, method="random", trials=2, jobs=2, out=out, progress="off")
    lines = io.StringIO()
    sweep(path, params=lr, method="random", trials=4, jobs=1, out=out, progress="lines", stream=lines)
    rows = table(out)
    assert len(rows) == 4 and len({r["optimizer.lr"] for r in rows}) == 4     # no point run twice
    best = max(rows, key=lambda r: float(r["val_accuracy"]))
    last = lines.getvalue().splitlines()[-1]
    assert f"best {float(best['val_accuracy']):.4f} (trial {best['trial']})" in last


@pytest.mark.parametrize("when", ["starting", "training"])
def test_local_workers_end_when_their_driver_is_killed_and_leave_no_files(tmp_path, when):
    import signal
    import time
    psutil = pytest.importorskip("psutil")
    long = write(tmp_path, {**SMALL, "training": {"epochs": 100000, "batch_size": 64}})
    scratch = tmp_path / "tmp"          # where the trials' temporary folders go
    scratch.mkdir()
    driver = subprocess.Popen([sys.executable, "-m", "layerwise.cli", "sweep", str(long), "--param",
                               "optimizer.lr=0.05,0.1", "--jobs", "1", "--out", str(tmp_path / "s"), "--progress",
                               "off"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "TMPDIR": str(scratch)})
    try:
        deadline = time.monotonic() + 60
        workers = []
        while not workers and time.monotonic() < deadline:
            time.sleep(0.05)
            workers = [p for p in psutil.Process(driver.pid).children()
                       if "spawn_main" in " ".join(p.cmdline())]         # multiprocessing's spawned workers
        assert workers, "no worker process started"
        if when == "training":
            while not list(scratch.glob("layerwise-trial-*")) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1)
    finally:
        driver.send_signal(signal.SIGKILL)     # no Ctrl-C handler runs: the workers are on their own
        driver.wait()
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    assert not list(scratch.glob("layerwise-trial-*"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def command_line_cluster(workers=2, kill=False):
    """A Dask scheduler and ``workers`` one-thread workers started as ``dask scheduler`` and ``dask worker``;
    yields ``(address, processes)``, the scheduler first, and stops them all (``kill``: at once, for workers
    whose scheduler is gone and whose running trial would hold up a polite stop)."""
    address = f"tcp://127.0.0.1:{free_port()}"
    dask = [sys.executable, "-m", "dask"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--no-dashboard"], **quiet)]
    try:
        procs += [subprocess.Popen([*dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                                    "--no-nanny", "--no-dashboard"], **quiet) for _ in range(workers)]
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
        yield address, procs
    finally:
        for p in reversed(procs):         # the workers, then the scheduler they would wait for
            p.kill() if kill else p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_a_grid_on_a_dask_scheduler_and_two_workers_started_from_the_command_line(tmp_path, capsys):
    with command_line_cluster() as (address, _):
        out = tmp_path / "s"
        assert main(["sweep", str(write(tmp_path)), "--param", GRID[0], "--dask", address,
                     "--out", str(out), "--progress", "off"]) == 0
        assert "best: trial" in capsys.readouterr().out
        rows = table(out)
        assert [r["state"] for r in rows] == ["complete"] * 2
        assert sorted(float(r["optimizer.lr"]) for r in rows) == [0.05, 0.2]


def test_a_dask_scheduler_that_goes_away_is_one_error_and_its_trials_go_back_to_the_queue(tmp_path, monkeypatch):
    """It was distributed's FuturesCancelledError, a traceback of several screens."""
    import optuna

    from layerwise.errors import LayerwiseError
    from layerwise.sweep import cluster
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "3s")      # the client gives the scheduler 20 s to come back
    with command_line_cluster(kill=True) as (address, procs):
        def scheduler_gone(row):      # the short trial ended; the long one runs on the other worker
            procs[0].kill()
            procs[0].wait()
        with pytest.raises(LayerwiseError) as err:
            sweep(write(tmp_path), params=["training.epochs=1,100000"], dask=address, out=tmp_path / "s",
                  progress="off", on_trial=scheduler_gone)
        assert str(err.value).startswith(f"--dask {address}: the connection to the Dask scheduler was lost (")
        storage = f"sqlite:///{tmp_path / 's' / 'sweep.db'}"
        (name,) = optuna.get_all_study_names(storage)
        study = optuna.load_study(study_name=name, storage=storage)
        waiting = [t.system_attrs.get("fixed_params") for t in study.trials if t.state.name == "WAITING"]
        assert waiting == [{"training.epochs": 100000}]         # queued again: the same command goes on


@pytest.mark.parametrize("metric, values", [("val_accuracy", (0.9, 0.99, 0.99)), ("val_loss", (0.5, 0.1, 0.1))])
def test_the_running_best_breaks_ties_as_best_yaml_does(metric, values):
    """Trials finish in any order: the live line names the lowest trial number among equal values, as
    sweep.md and best.yaml do."""
    import io
    from types import SimpleNamespace

    from layerwise.sweep import report
    from layerwise.sweep.driver import _Progress
    rows = [{"trial": t, "state": "complete", "optimizer.lr": 0.1, metric: v, "error": None}
            for t, v in zip((2, 1, 0), values)]    # trial 2 finished first, then 1 with the same value as 0
    lines = io.StringIO()
    progress = _Progress(SimpleNamespace(metric=metric, space={"optimizer.lr": None}, trials=3), "lines", lines, 0)
    for done in (1, 2, 3):
        progress.trial(rows[done - 1], done, rows[:done])
    assert lines.getvalue().splitlines()[-1].endswith(f"best {values[1]:.4f} (trial 0)")
    chosen = next(r for r in report.ranked(rows, metric) if r["state"] == "complete")
    assert chosen["trial"] == 0


def test_two_drivers_started_at_once_share_one_new_study_and_run_each_trial_once(tmp_path):
    """Sweeps on several machines (or terminals) share one study. Started at the same moment on a new folder,
    one driver failed about one time in three: Optuna's tables were being made by the other ('UNIQUE constraint
    failed: alembic_version'). Each now opens the study again a moment later (the next test makes that race
    happen every time)."""
    path, out = write(tmp_path), tmp_path / "s"
    drivers = [subprocess.Popen([sys.executable, "-m", "layerwise.cli", "sweep", str(path), "--param",
                                 "optimizer.lr=loguniform(0.01,0.5)", "--method", "random", "--trials", "4",
                                 "--jobs", "1", "--out", str(out), "--progress", "off"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [d.communicate(timeout=300)[1] for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], errors
    rows = table(out)
    assert sorted(int(r["trial"]) for r in rows) == list(range(4))
    assert len({r["optimizer.lr"] for r in rows}) == 4
    assert sorted(p.name for p in (out / "trials").iterdir()) == [f"{i:04d}" for i in range(4)]


def test_a_study_being_made_by_another_driver_is_opened_again(tmp_path, monkeypatch):
    import optuna
    from sqlalchemy.exc import IntegrityError

    from layerwise.errors import LayerwiseError
    from layerwise.sweep import driver
    create, calls = optuna.create_study, []

    def racing(**kwargs):       # the other driver is inserting the schema version at this moment
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("INSERT INTO alembic_version", {}, Exception("UNIQUE constraint failed: "
                                                                              "alembic_version.version_num"))
        return create(**kwargs)

    monkeypatch.setattr(optuna, "create_study", racing)
    sweep(write(tmp_path), params=LRS, jobs=1, out=tmp_path / "s", progress="off")
    assert len(calls) == 2 and len(table(tmp_path / "s")) == 3
    monkeypatch.setattr(optuna, "create_study", lambda **kw: (_ for _ in ()).throw(IntegrityError("x", {}, Exception(
        "UNIQUE constraint failed: alembic_version.version_num"))))
    monkeypatch.setattr(driver, "OPEN_ATTEMPTS", 2)
    with pytest.raises(LayerwiseError, match="Optuna cannot open it .IntegrityError"):
        sweep(write(tmp_path), params=["optimizer.lr=0.3"], jobs=1, out=tmp_path / "t", progress="off")


def test_a_closed_output_pipe_stops_a_sweep_saying_how_to_go_on(tmp_path):
    """``layerwise sweep ... | head -1`` ended with exit 141 and not a word: the sweep had stopped after one trial."""
    out = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-m", "layerwise.cli", "sweep", str(write(tmp_path)), "--param", LRS[0],
                             "--jobs", "1", "--out", str(out), "--progress", "lines"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout.readline().startswith("sweep of ")
    proc.stdout.close()                 # what head does after its line
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err
    assert "the sweep stopped: " in err and f"kept in {out}" in err and "Run the same command to go on." in err
