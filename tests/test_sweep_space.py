"""Sweep specs, the ``sweep:`` section, the plan, the pruning callback and the one-line errors (no workers)."""

import re
import sys
from types import SimpleNamespace

import pytest
import yaml

from layerwise.cli import main
from layerwise.config import load_config
from layerwise.errors import ConfigError
from layerwise.sweep import parse_spec
from layerwise.sweep.plan import make_plan
from layerwise.sweep.space import parse_param

SMALL = {
    "name": "tiny", "seed": 0, "data": {"dataset": "digits"},
    "model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 16}, {"type": "relu"},
                         {"type": "linear", "units": 10}]},
    "optimizer": {"type": "sgd", "lr": 0.1}, "training": {"epochs": 1, "batch_size": 64},
}


def write(folder, data=SMALL, name="tiny.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("spec, kind, shown", [
    ("0.01,0.05,0.1", "choice", "0.01,0.05,0.1"),
    ("relu, tanh", "choice", "relu,tanh"),
    ([16, 64], "choice", "16,64"),
    ("uniform(0, 0.5)", "uniform", "uniform(0.0,0.5)"),
    ("loguniform(1e-4,1e-1)", "loguniform", "loguniform(0.0001,0.1)"),
    ("int(16,256)", "int", "int(16,256)"),
    ("int(16,256,log)", "int", "int(16,256,log)"),
])
def test_specs_parse_to_their_kind(spec, kind, shown):
    parsed = parse_spec(spec)
    assert parsed.kind == kind and str(parsed) == shown and parse_spec(shown) == parsed


@pytest.mark.parametrize("spec, message", [
    ("logunifrom(1e-4,1)", "unknown spec 'logunifrom' (did you mean 'loguniform'?)"),
    ("uniform(1,0)", "needs a < b"),
    ("loguniform(0,1)", "a log scale needs 0 < a < b"),
    ("int(1.5,4)", "1.5 is not an integer"),
    ("int(1,4,lg)", "can only be 'log'"),
    ("uniform(1,2", "missing its closing parenthesis"),
    ("0.1,0.1", "the list repeats 0.1"),
])
def test_bad_specs_say_what_is_wrong_on_one_line(spec, message):
    with pytest.raises(ConfigError) as e:
        parse_param(f"optimizer.lr={spec}")
    assert str(e.value).startswith(f"--param optimizer.lr={spec}: ") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_the_sweep_section_is_validated_like_the_rest_and_left_out_of_resolved_configs():
    with pytest.raises(ConfigError, match=r"sweep.method must be one of 'grid', 'random', 'tpe', got 'tpr'. "
                                          r"Did you mean 'tpe'\?"):
        load_config({**SMALL, "sweep": {"method": "tpr"}})
    with pytest.raises(ConfigError, match=r"sweep.parameters.optimizer.lr: uniform\(a,b\) needs a < b"):
        load_config({**SMALL, "sweep": {"parameters": {"optimizer.lr": "uniform(1,0)"}}})
    config = load_config({**SMALL, "sweep": {"parameters": {"optimizer.lr": [0.1, 0.2]}}})
    assert config.sweep.parameters == {"optimizer.lr": [0.1, 0.2]} and "sweep" not in config.to_dict()


def test_the_command_line_overrides_the_sweep_section(tmp_path):
    path = write(tmp_path, {**SMALL, "sweep": {"method": "random", "trials": 5, "metric": "val_loss",
                                               "parameters": {"optimizer.lr": "loguniform(0.01,0.3)"}}})
    plan = make_plan(path)
    assert (plan.method, plan.trials, plan.metric, plan.direction) == ("random", 5, "val_loss", "minimize")
    plan = make_plan(path, params=["model.layers[1].units=8,16,32"], trials=2, metric="val_accuracy")
    assert list(plan.space) == ["model.layers[1].units"] and (plan.trials, plan.metric) == (2, "val_accuracy")
    grid = make_plan(write(tmp_path, SMALL, "plain.yaml"), params=["optimizer.lr=0.1,0.2", "seed=0,1,2"],
                     trials=100)
    assert grid.method == "grid" and grid.trials == 6        # a grid is never run past its size
    assert make_plan(path, params=["optimizer.lr=uniform(0.01,0.1)"]).method == "random"


def test_identity_names_the_sweep_so_the_same_command_resumes_the_same_folder(tmp_path):
    path = write(tmp_path)
    one = make_plan(path, params=["optimizer.lr=0.1,0.2"])
    assert one.identity == make_plan(path, params=["optimizer.lr=0.1,0.2"], trials=1).identity
    assert one.identity != make_plan(path, params=["optimizer.lr=0.1,0.3"]).identity
    assert one.identity != make_plan(path, params=["optimizer.lr=0.1,0.2"], overrides=["seed=1"]).identity


@pytest.mark.parametrize("args, message", [
    (["--param", "optimzer.lr=0.1,0.2"], "unknown key 'optimzer'. Did you mean 'optimizer'?"),
    (["--param", "optimizer.lr=uniform(-1,1)"], "tiny.yaml with optimizer.lr=-1: optimizer.lr must be a number > 0"),
    (["--param", "optimizer.lr=loguniform(0.01,1)", "--method", "grid"], "--method grid needs a list of values"),
    (["--param", "model.layers[7].units=8,16"],        # it said --set, which the user never typed
     "layerwise: error: --param model.layers[7].units=8: 'model.layers' is a list of 4 items; '7' is not an index"),
    (["--param", "model..layers=8,16"], "the key 'model..layers' has an empty part"),
    (["--param", "model.layers[1].unts=8,16"], "tiny.yaml with model.layers[1].unts=8: model.layers[1]: unknown key "
                                               "'unts' for layer 'linear'. Did you mean 'units'?"),
    (["--param", "optimizer.lr"], "expected KEY=SPEC"),
    ([], "nothing to sweep"),
    (["--param", "optimizer.lr=0.1", "--jobs", "0"], "--jobs must be an integer >= 1, got 0."),
    (["--param", "optimizer.lr=0.1", "--jobs", "2", "--dask", "tcp://127.0.0.1:1"], "with --dask the cluster's"),
])
def test_bad_sweeps_exit_2_with_one_line_before_anything_runs(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["sweep", str(write(tmp_path)), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_without_optuna_the_command_names_the_install_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert main(["sweep", str(write(tmp_path)), "--param", "optimizer.lr=0.1,0.2"]) == 2
    assert capsys.readouterr().err == ("layerwise: error: layerwise sweep needs optuna, which is not installed: "
                                       "pip install 'layerwise[sweep]'\n")


def test_the_pruning_callback_asks_optunas_median_pruner_about_each_epoch():
    import optuna
    from optuna.distributions import FloatDistribution
    from layerwise.sweep.trial import Report
    finished = [optuna.trial.create_trial(value=0.9, params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
                                          intermediate_values={1: 0.8 + i / 100, 2: 0.9})
                for i in range(5)]
    pruning = {"direction": "maximize", "trials": finished}
    for value, pruned in ((0.1, True), (0.85, False)):
        trainer = SimpleNamespace(epoch=1, stop_training=False)
        report = Report("val_accuracy", pruning)
        report.on_epoch_end(trainer, {"val_accuracy": value, "val_loss": 1.0})
        assert trainer.stop_training is pruned and report.values == [value]
        assert (report.pruned_at == 1) is pruned


def test_a_folder_holding_another_sweep_is_refused_and_a_bad_storage_url_is_one_line(tmp_path, capsys):
    from layerwise.sweep.driver import open_study
    path, out = write(tmp_path), tmp_path / "out"
    out.mkdir()
    open_study(make_plan(path, params=["optimizer.lr=0.1,0.2"]), out)
    assert open_study(make_plan(path, params=["optimizer.lr=0.1,0.2"], trials=1), out) is not None   # same sweep
    with pytest.raises(ConfigError, match=r"out holds another sweep \(grid over optimizer.lr of tiny.yaml; this one "
                                          r"changes space.optimizer.lr\); choose another --out."):
        open_study(make_plan(path, params=["optimizer.lr=0.1,0.3"]), out)
    with pytest.raises(ConfigError, match=r"this one changes config.training.epochs\); choose another --out."):
        open_study(make_plan(path, params=["optimizer.lr=0.1,0.2"], overrides=["training.epochs=4"]), out)
    assert main(["sweep", str(path), "--param", "optimizer.lr=0.1,0.2", "--out", str(tmp_path / "o2"),
                 "--storage", "nosuchdb://x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: --storage nosuchdb://x: Optuna cannot open it (") and err.count("\n") == 1


@pytest.mark.parametrize("method", ["random", "tpe"])
def test_a_second_driver_on_the_same_study_draws_new_points_and_a_new_study_the_same_ones(method):
    # every driver process (a resumed sweep, a second one on the same --out) builds its own sampler
    optuna = pytest.importorskip("optuna")
    from layerwise.sweep.space import SAMPLERS
    space = {"optimizer.lr": parse_spec("loguniform(1e-3,0.3)"), "units": parse_spec("int(16,256)")}
    dists = {key: spec.distribution() for key, spec in space.items()}
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def draw(study, n):
        driver = optuna.load_study(study_name=study, storage=storage, sampler=SAMPLERS[method](space, 0))
        points = []
        for _ in range(n):
            trial = driver.ask(dists)
            points.append(tuple(trial.params.values()))
            driver.tell(trial, trial.params["optimizer.lr"])
        return points

    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(study_name="first", storage=storage)
    optuna.create_study(study_name="again", storage=storage)
    points = draw("first", 3) + draw("first", 3)
    assert len(set(points)) == 6
    assert draw("again", 6) == points      # the same sweep run again: the same points


def test_sweep_out_must_be_new_empty_or_a_sweeps_folder(tmp_path, capsys):
    """--out / wrote best.yaml, sweep.* and trials/ into the root; a user's sweep.md was replaced; a run got
    a sweep mixed into it."""
    path = write(tmp_path)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "sweep.md").write_text("my notes")
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text("{}")
    (tmp_path / "afile").write_text("x")
    for out, message in ((notes, r"notes is not empty \(sweep.md\) and holds no sweep; give a new or empty folder"),
                         (run, r"run holds a run \(.*summary.json.*\); give the sweep a folder of its own"),
                         (tmp_path / "afile", r"afile is a file; --out names the sweep's folder")):
        assert main(["sweep", str(path), "--param", "optimizer.lr=0.1,0.2", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(message, err), err
    assert (notes / "sweep.md").read_text() == "my notes" and sorted(p.name for p in run.iterdir()) == ["summary.json"]


def test_a_param_given_as_a_yaml_list_is_its_values():
    """--param optimizer.lr=[0.1,0.2] split at its commas into '[0.1' and '0.2]', then blamed --set."""
    assert parse_param("optimizer.lr=[0.1, 0.2]")[1].values == (0.1, 0.2)
    assert parse_param("model.layers[1].units=[8,16]")[1].values == (8, 16)
    with pytest.raises(ConfigError, match=r"^--param optimizer.lr=\[0.1,0.2: the list: line 1, column 9: invalid YAML"):
        parse_param("optimizer.lr=[0.1,0.2")


def test_a_bad_swept_value_is_not_called_a_set_option(tmp_path):
    """A trial's values are overrides too; the error said '(from --set optimizer.lr=-1)'."""
    with pytest.raises(ConfigError) as info:
        make_plan(write(tmp_path), params=["optimizer.lr=0.1,-1"])
    assert "optimizer.lr must be a number > 0, got -1" in str(info.value) and "--set" not in str(info.value)


def test_validate_checks_the_sweep_section_as_sweep_does(tmp_path, capsys):
    swept = {**SMALL, "sweep": {"parameters": {"optimizer.lr": [0.05, 0.1], "model.layers.1.units": "8,16"}}}
    assert main(["validate", str(write(tmp_path, swept))]) == 0
    out = capsys.readouterr().out
    assert "sweep: ok, grid over model.layers.1.units=8,16, optimizer.lr=0.05,0.1; 4 trials, choosing on " \
           "val_accuracy" in out
    # a key that no trial could set, and a value that no model could take, fail before any sweep runs
    typo = {**SMALL, "sweep": {"parameters": {"optimizer.lrr": [0.05, 0.1]}}}
    assert main(["validate", str(write(tmp_path, typo))]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'optimizer.lrr'. Did you mean 'lr'?" in err and len(err.strip().splitlines()) == 1
    bad_units = {**SMALL, "sweep": {"parameters": {"model.layers.1.units": "16,0"}}}
    assert main(["validate", str(write(tmp_path, bad_units))]) == 2
    err = capsys.readouterr().err
    assert "tiny.yaml with model.layers.1.units=0: model.layers[1] (linear): units must be an int >= 1" in err
    assert err.count("units=0") == 1
    # --set reaches the sweep's checks too: a sweep chooses on the validation split
    assert main(["validate", str(write(tmp_path, swept)), "--set", "data.val_fraction=0"]) == 2
    assert "data.val_fraction is 0" in capsys.readouterr().err


@pytest.mark.parametrize("params, kwargs, message", [
    (["model.layers[1].units=8,16", "model.layers.1.units=4"], {},
     "--param model.layers.1.units=4: model.layers.1.units is model.layers[1].units, which is already swept (one key, "
     "spelled two ways)."),
    (["model.layers[1].units=uniform(8,16)"], {"method": "random"},
     "tiny.yaml with model.layers[1].units=8: model.layers[1] (linear): units must be an int >= 1, got 8.0."),
    (["data.val_fraction=0,0.1"], {},
     "tiny.yaml with data.val_fraction=0: a sweep chooses on the validation set, but data.val_fraction is 0"),
    (["optimizer.lr=0.1,0.2"], {"trials": 0}, "--trials must be an int >= 1, got 0."),
    (["optimizer.lr=0.1,0.2"], {"metric": "test_accuracy"},
     "--metric must be one of val_accuracy, val_loss (a sweep chooses on validation), got 'test_accuracy'."),
])
def test_a_plan_that_could_not_run_is_refused_before_any_trial(tmp_path, params, kwargs, message):
    """Each of these ran: two spellings of one key as two parameters (both trials trained the second's value), a
    float range for an int (every trial failed), a trial without validation data, 0 trials (20 ran) and a test
    metric (every trial failed)."""
    with pytest.raises(ConfigError) as e:
        make_plan(write(tmp_path), params=params, **kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_grid_over_a_range_in_the_sweep_section_names_the_section(tmp_path):
    """It said --method grid, an option not given."""
    path = write(tmp_path, {**SMALL, "sweep": {"method": "grid", "parameters": {"optimizer.lr": "uniform(0.1,0.2)"}}})
    with pytest.raises(ConfigError, match=r"tiny.yaml: sweep.method grid needs a list of values for every parameter"):
        make_plan(path)


def test_a_nan_metric_fails_its_trial_with_a_message_and_a_best_run_elsewhere_is_named(tmp_path):
    """A trial whose kept value was NaN: Optuna failed it with no message, and the report took it for an interrupted
    trial (hidden, and run again on resume). A best trial in another driver's folder (one --storage) left this
    folder's older best.yaml in place, and its run_dir was named as if it were here."""
    import optuna

    from layerwise.sweep import report
    from layerwise.sweep.driver import record
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    plan = make_plan(write(tmp_path), params=["optimizer.lr=0.1,0.2"])
    study = optuna.create_study(direction=plan.direction)
    dist = {k: s.distribution() for k, s in plan.space.items()}
    here, there = tmp_path / "here", tmp_path / "there"
    files = {"config.yaml": b"name: x\n"}
    outcomes = [(here, {"state": "complete", "values": [0.5, float("nan")], "summary": {"kept_epoch": 2},
                        "files": files}),
                (here, {"state": "complete", "values": [0.6], "summary": {"kept_epoch": 1}, "files": files}),
                (there, {"state": "complete", "values": [0.9], "summary": {"kept_epoch": 1}, "files": files})]
    for out, outcome in outcomes:
        record(study, plan, out, study.ask(dist), outcome)
    rows = report.trial_rows(study, list(plan.space), plan.metric, here)
    assert [r["state"] for r in rows] == ["fail", "complete", "complete"]
    assert rows[0]["error"] == "its val_accuracy is nan at the epoch its run keeps (2)"
    assert rows[1]["run_dir"] == "trials/0001" and rows[2]["run_dir"] == str((there / "trials/0002").resolve())
    (here / "best.yaml").write_text("an earlier best\n")
    best = report.write_best(here, rows, plan.metric)
    assert best["trial"] == 2 and best["best_yaml"] == here / "best.yaml"
    assert (here / "best.yaml").read_bytes() == files["config.yaml"]       # read from the other driver's folder
    import shutil
    shutil.copytree(here, tmp_path / "moved")                              # this driver's folder, moved: still its
    moved = report.trial_rows(study, list(plan.space), plan.metric, tmp_path / "moved")
    assert moved[1]["run_dir"] == "trials/0001"
    shutil.rmtree(there)                                                   # a folder on another machine
    best = report.write_best(here, rows, plan.metric)
    assert best["best_yaml"] is None and not (here / "best.yaml").exists()


def test_sweep_params_draws_the_trials_whose_value_is_none():
    from layerwise.sweep.report import _points
    rows = [{"trial": i, "training.grad_clip_norm": v} for i, v in enumerate([None, 1.0, None])]
    assert len(_points(rows, "training.grad_clip_norm", parse_spec([None, 1.0]))) == 3
    assert len(_points(rows, "training.grad_clip_norm", parse_spec("uniform(0.5,2)"))) == 1


def test_jobs_0_and_a_storage_password_in_an_error(tmp_path, capsys):
    """jobs=0 meant one worker per core; a storage Optuna could not open was named with its password."""
    from layerwise.sweep import sweep
    with pytest.raises(ConfigError, match=r"--jobs must be an int >= 1, got 0\."):
        sweep(write(tmp_path), params=["optimizer.lr=0.1,0.2"], jobs=0, out=tmp_path / "s")
    assert main(["sweep", str(write(tmp_path)), "--param", "optimizer.lr=0.1,0.2", "--out", str(tmp_path / "s2"),
                 "--storage", "postgresql://u:secret@127.0.0.1:1/db"]) == 2
    err = capsys.readouterr().err
    assert "postgresql://u:***@127.0.0.1:1/db" in err and "secret" not in err


def test_a_dask_scheduler_that_does_not_answer_leaves_no_study_in_out(tmp_path, monkeypatch):
    """The study was made in --out before the connection: a later, other sweep there was 'another sweep'."""
    pytest.importorskip("distributed")
    from layerwise.errors import LayerwiseError
    from layerwise.sweep import cluster, sweep

    def no_answer(address, log=None):
        raise LayerwiseError(f"--dask {address}: no Dask scheduler answered there")
    monkeypatch.setattr(cluster, "DaskPool", no_answer)
    with pytest.raises(LayerwiseError, match="no Dask scheduler answered"):
        sweep(write(tmp_path), params=["optimizer.lr=0.1,0.2"], dask="tcp://127.0.0.1:1", out=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_the_dask_clients_own_error_log_is_quiet_while_the_sweep_says_it_in_one_line(monkeypatch):
    """A scheduler lost mid-sweep: distributed.client logged an ERROR with ~30 lines of traceback before the
    sweep's one-line error. Quiet while the pool is open; the user's level comes back after."""
    import logging

    distributed = pytest.importorskip("distributed")
    from layerwise.sweep.cluster import DaskPool

    class FakeClient:
        def __init__(self, address, timeout):
            pass

        def nthreads(self):
            return {"w": 1}

        def close(self):
            pass
    monkeypatch.setattr(distributed, "Client", FakeClient)
    log = logging.getLogger("distributed.client")
    monkeypatch.setattr(log, "level", logging.INFO)
    pool = DaskPool("tcp://127.0.0.1:1")
    assert not log.isEnabledFor(logging.ERROR)
    pool.close()
    assert log.level == logging.INFO


def test_the_plan_builds_no_probe_that_needs_a_trials_own_data(tmp_path):
    """Built against the base config's data, a swept data.val_fraction was refused with the base split's batch
    arithmetic, and a swept data.path with the base's placeholder file 'no such file'; data only the workers
    have (a Dask sweep) was refused too."""
    bn = {**SMALL, "model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 8}, {"type": "batchnorm"},
                                        {"type": "relu"}, {"type": "linear", "units": 10}]},
          "training": {"epochs": 1, "batch_size": 68}}
    make_plan(write(tmp_path, bn), params=["data.val_fraction=0.2,0.25"])       # 1149 train samples: no batch of 1
    make_plan(write(tmp_path, bn), params=["optimizer.lr=0.1,0.2"])             # the base split's batches: training's
    placeholder = {**SMALL, "data": {"dataset": "csv", "path": "missing.csv"}}
    make_plan(write(tmp_path, placeholder), params=["data.path=a.csv,b.csv"])
    make_plan(write(tmp_path, placeholder), params=["optimizer.lr=0.1,0.2"])   # read by the workers, maybe
    with pytest.raises(ConfigError, match="units must be an int >= 1"):         # the data here: built
        make_plan(write(tmp_path), params=["model.layers.1.units=0,4"])


def test_validate_warns_once_for_a_sweep_of_many_points(tmp_path, capsys):
    """Each probe built warned again: a softmax before cross_entropy, 9 times for a 4 x 2 grid."""
    head = {**SMALL, "model": {"layers": [*SMALL["model"]["layers"], {"type": "softmax"}]},
            "sweep": {"parameters": {"optimizer.lr": "0.1,0.2,0.3,0.4", "model.layers.1.units": "8,16"}}}
    assert main(["validate", str(write(tmp_path, head))]) == 0
    err = capsys.readouterr().err
    assert err.count("warning") == 1, err


def test_a_storage_password_is_masked_where_the_url_is_written_and_nowhere_else():
    """Every occurrence of a short password was masked: 'p***ssword ***uthentic***tion'; an encoded one not."""
    from layerwise.sweep.driver import _masked
    url = "postgresql://u:a@db.example.org/db"
    said = f"connection to {url} failed: FATAL: password authentication failed for user u:a@db.example.org"
    assert _masked(said, url) == ("connection to postgresql://u:***@db.example.org/db failed: FATAL: password "
                                  "authentication failed for user u:***@db.example.org")
    encoded = "postgresql://u:p%40ss@h/db"
    assert _masked("x postgresql://u:p%40ss@h/db and u:p@ss@h", encoded) == "x postgresql://u:***@h/db and u:***@h"


def test_local_workers_take_no_more_threads_than_the_environment_asks(monkeypatch):
    """With OPENBLAS_NUM_THREADS=1 a sweep's single worker still took every core's thread."""
    from layerwise.sweep import local
    monkeypatch.setattr(local, "cores", lambda: 8)
    for name in local.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert local.LocalPool(2).threads == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "junk")
    assert local.LocalPool(2).threads == 3
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert local.LocalPool(1).threads == 1


def test_a_probe_whose_every_layer_is_frozen_is_refused_before_the_sweep(tmp_path):
    with pytest.raises(ConfigError, match="every layer with parameters is frozen"):
        make_plan(write(tmp_path), params=["model.layers[1].frozen=false,true", "model.layers[3].frozen=true"])


def test_a_local_worker_that_died_idle_is_replaced_not_taken_for_a_closed_output(monkeypatch):
    """Its pipe's BrokenPipeError reached the driver, which said 'the output was closed'."""
    from layerwise.sweep import local
    started = []

    class Worker:
        def __init__(self, ctx, threads):
            self.job, self.dead = None, not started
            self.process, self.conn = type("P", (), {"join": lambda self, timeout=None: None})(), \
                type("C", (), {"close": lambda self: None})()
            started.append(self)

        def start(self, handle, task, attempt):
            if self.dead:
                raise BrokenPipeError(32, "Broken pipe")
            self.job = (handle, task, attempt)
    monkeypatch.setattr(local, "_Worker", Worker)
    pool = local.LocalPool(1)
    pool.workers = [Worker(None, 1)]                    # idle, and dead
    handle = pool.submit({"number": 0})
    assert len(started) == 2 and pool.workers == [started[1]] and started[1].job[0] == handle
