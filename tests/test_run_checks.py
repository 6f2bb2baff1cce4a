"""A config that runs into a wall the layers only find mid-training, and commands on finished runs that
would quietly change what they report: refused at once, on one line, with what to do."""

import numpy as np
import pytest

import layerwise as lw
from layerwise.cli import main
from layerwise.data import write_idx
from tests.test_cli import SMALL, write_config

BN = {**SMALL, "model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 16}, {"type": "batchnorm"},
                                    {"type": "relu"}, {"type": "linear", "units": 10}]},
      "training": {"epochs": 1, "batch_size": 4}}


def test_a_last_batch_of_one_sample_into_batchnorm_is_refused_before_the_run_starts(tmp_path, capsys):
    config = write_config(tmp_path, BN)              # digits: 1293 training samples = 4 x 323 + 1
    for argv in (["validate", str(config)], ["train", str(config), "--out", str(tmp_path / "run")]):
        assert main(argv) == 2
        assert ("training.batch_size 4 leaves a last batch of 1 sample every epoch (1293 training samples = 4 x 323 + 1), "
                "and module 2 (BatchNorm1d) cannot normalize") in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert main(["time", str(config), "--batch-size", "1", "--repeats", "1", "--set", "training.batch_size=5"]) == 2
    assert "--batch-size 1 times a training step on one sample" in capsys.readouterr().err
    model = lw.Sequential(lw.Linear(3, 4, rng=0), lw.BatchNorm1d(4)).set_optimizer(lw.SGD(lr=0.1))
    X = np.ones((9, 3), np.float32)
    with pytest.raises(ValueError, match="9 training samples in batches of 4 leave a last batch of 1"):
        lw.Trainer(model, "mse", batch_size=4, progress="off").fit(X, X[:, :1].repeat(4, 1))
    images = lw.Sequential(lw.Conv2d(1, 2, 3, padding=1, rng=0), lw.BatchNorm2d(2), lw.Flatten(), lw.Linear(18, 2))
    images.set_optimizer(lw.SGD(lr=0.1))             # a feature map has values enough in a batch of one
    lw.Trainer(images, batch_size=4, progress="off").fit(np.ones((9, 1, 3, 3), np.float32), np.arange(9) % 2)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    run = folder / "run"
    assert main(["train", str(write_config(folder, {**SMALL, "training": {"epochs": 1, "batch_size": 64}})),
                 "--out", str(run), "--progress", "off"]) == 0
    return run


@pytest.mark.parametrize("argv", [["attack", "--eps", "0"], ["saliency"], ["dream", "--steps", "1"]])
def test_the_analysis_of_a_run_keeps_its_test_split_as_evaluate_does(finished_run, capsys, argv):
    command = [argv[0], str(finished_run), *argv[1:], "--out", str(finished_run.parent / argv[0])]
    for key in ("data.test_fraction=0.5", "seed=5", "data.normalize=none"):
        assert main([*command, "--set", key]) == 2
        assert f"--set {key}: {argv[0]} can only change where the data and plugins are" in capsys.readouterr().err


def test_too_many_samples_for_one_picture_are_refused(finished_run, capsys):
    assert main(["attack", str(finished_run), "--eps", "0", "--n", "1000"]) == 2
    assert "--n must be <= 100 (samples drawn in one picture), got 1000." in capsys.readouterr().err


def test_time_stands_in_random_images_only_for_files_that_are_not_there(tmp_path, capsys):
    data = {**SMALL, "data": {"dataset": "mnist", "path": str(tmp_path / "absent")}, "model": {"layers": [
        {"type": "flatten"}, {"type": "linear", "units": 10}]}}
    assert main(["time", str(write_config(tmp_path, data)), "--repeats", "1"]) == 0
    assert "(random images: mnist's files are not here)" in capsys.readouterr().out
    damaged = tmp_path / "damaged"
    for prefix, n in (("train", 20), ("t10k", 10)):
        write_idx(damaged / f"{prefix}-images-idx3-ubyte.gz", np.zeros((n, 28, 28), np.uint8))
        write_idx(damaged / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)
    cut = damaged / "train-images-idx3-ubyte.gz"
    cut.write_bytes(cut.read_bytes()[:-20])
    assert main(["time", str(write_config(tmp_path, {**data, "data": {"dataset": "mnist", "path": str(damaged)}})),
                 "--repeats", "1"]) == 2
    assert "train-images-idx3-ubyte.gz: corrupt or truncated gzip stream" in capsys.readouterr().err


def test_baselines_that_share_a_name_are_refused(tmp_path, capsys):
    forest = {"class": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 3}}
    config = write_config(tmp_path, {**SMALL, "baselines": [forest, {**forest, "params": {"n_estimators": 5}}]})
    assert main(["compare", str(config), "--out", str(tmp_path / "cmp")]) == 2
    assert "baselines[1] is named 'RandomForestClassifier', as baselines[0] is" in capsys.readouterr().err


def test_a_csv_label_column_named_twice_in_the_header_is_refused(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,a,c\n" + "".join(f"{i},{i % 2},{i * 2}\n" for i in range(20)))
    config = write_config(tmp_path, {**SMALL, "data": {"dataset": "csv", "path": "d.csv", "label_column": "a"},
                                     "model": {"layers": [{"type": "linear", "units": 2}]}})
    assert main(["validate", str(config)]) == 2
    assert "data.label_column 'a' names two columns of the header (indices 0 and 1)" in capsys.readouterr().err


def test_a_sweep_folder_is_resumed_only_with_the_storage_that_holds_its_study(tmp_path, capsys):
    config = str(write_config(tmp_path, {**SMALL, "training": {"epochs": 1, "batch_size": 64}}))
    out, db = tmp_path / "sweep", f"sqlite:///{tmp_path / 'elsewhere.db'}"
    argv = ["sweep", config, "--param", "optimizer.lr=0.05,0.1", "--out", str(out), "--progress", "off"]
    assert main([*argv, "--storage", db]) == 0
    before = (out / "trials" / "0000" / "summary.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 2                                  # its own sweep.db would start the study afresh
    assert f"holds this sweep with its study in {db}, and no --storage was given" in capsys.readouterr().err
    assert (out / "trials" / "0000" / "summary.json").stat().st_mtime_ns == before
    assert main([*argv, "--storage", db]) == 0              # the same storage: resumed, nothing run again
    assert (out / "trials" / "0000" / "summary.json").stat().st_mtime_ns == before


def test_a_regression_sweep_records_its_test_rmse_and_a_dream_path_into_a_leaf_is_named(tmp_path):
    from layerwise.analysis.dream import truncate
    from layerwise.sweep.report import test_column
    assert test_column([{"test_accuracy": None, "test_rmse": 158.9}]) == "test_rmse"
    assert test_column([{"test_accuracy": 0.9, "test_rmse": None}]) == "test_accuracy"
    with pytest.raises(ValueError, match=r"module 1 \(ReLU\) has no modules inside it; give '1' itself"):
        truncate(lw.Sequential(lw.Linear(2, 3), lw.ReLU()), "1.1")


def test_batch_size_1_into_batchnorm_is_refused_and_evaluate_builds_without_the_training_check(tmp_path):
    from layerwise import run
    from layerwise.errors import ConfigError
    with pytest.raises(ConfigError, match="training.batch_size 1 makes batches of 1 sample"):
        run.prepare(write_config(tmp_path, {**BN, "training": {"epochs": 1, "batch_size": 1}}))
    model = lw.Sequential(lw.Linear(3, 4, rng=0), lw.BatchNorm1d(4)).set_optimizer(lw.SGD(lr=0.1))
    with pytest.raises(ValueError, match="batch_size 1 makes batches of 1 sample"):
        lw.Trainer(model, "mse", batch_size=1, progress="off").fit(np.ones((8, 3), np.float32), np.ones((8, 4)))
    exp = run.prepare(write_config(tmp_path, BN), training=False)     # what evaluate and a finished resume do
    assert exp.trainer.batch_size == 4


def test_a_sweeps_storage_is_recognized_by_the_file_it_names(tmp_path, monkeypatch):
    from layerwise.sweep.driver import _digest, _same_storage
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "sweep"
    assert _digest("sqlite:///st.db") == _digest(f"sqlite:///{tmp_path}/st.db") == _digest("sqlite:///./st.db")
    assert _same_storage(None, None, out) and _same_storage(None, f"sqlite:///{out}/sweep.db", out)
    assert _same_storage(_digest(f"sqlite:///{out}/sweep.db"), None, out)       # its own file, named or not
    assert _same_storage(None, None, tmp_path / "moved")                       # a folder moved keeps its sweep.db
    (tmp_path / "sub").mkdir()
    here = _digest("sqlite:///st.db")
    assert not _same_storage(here, None, out)
    monkeypatch.chdir(tmp_path / "sub")
    assert not _same_storage(here, "sqlite:///st.db", out)                     # the same words, another file


def test_the_optimizer_type_warning_is_said_once_for_every_trial_of_a_sweep(recwarn):
    from layerwise.config import _DROP_WARNED, load_config
    _DROP_WARNED.clear()
    data = {**SMALL, "optimizer": {"type": "sgd", "lr": 0.01, "momentum": 0.9}}
    for trial in range(3):
        load_config(data, [f"optimizer.lr=0.{trial + 1}", "optimizer.type=adam"], source=f"trial {trial}", given=[])
    assert len(recwarn) == 1


def test_a_resume_refused_for_its_batches_leaves_the_finished_run_as_it_was(tmp_path, capsys):
    from layerwise import run
    from layerwise.config import load_config
    rng = np.random.default_rng(0)
    data = {**BN, "model": {"layers": [{"type": "linear", "units": 8}, {"type": "batchnorm"}, {"type": "relu"},
                                       {"type": "linear", "units": 2}]}}

    def npz(name, n):
        X = rng.normal(size=(n, 4)).astype(np.float32)
        np.savez(tmp_path / name, X=X, y=(X[:, 0] > 0).astype(np.int64))
        config = load_config({**data, "data": {"dataset": "npz", "path": str(tmp_path / name)}})
        return len(run.load_data(config).X_train) % 4

    n = 40
    while npz("a.npz", n) == 1:
        n += 1
    m = n + 1
    while npz("b.npz", m) != 1:
        m += 1
    npz("a.npz", n)
    config = write_config(tmp_path, {**data, "data": {"dataset": "npz", "path": str(tmp_path / "a.npz")}})
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out), "--progress", "off"]) == 0
    kept = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", "training.epochs=2", "--set",
                 f"data.path={tmp_path / 'b.npz'}"]) == 2
    # other data: refused before its batches are looked at (a checkpoint of the data's sha256 is checked first)
    assert "b.npz) is not the data this run was trained on" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == kept
    assert main(["evaluate", str(out)]) == 0


def test_time_refuses_a_copy_of_the_data_whose_sha256_is_not_the_published_one(tmp_path, capsys):
    folder = tmp_path / "copy"
    for prefix, n in (("train", 20), ("t10k", 10)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", np.zeros((n, 28, 28), np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8) % 10)
    data = {**SMALL, "data": {"dataset": "mnist", "path": str(folder), "download": True,
                              "mirrors": ["http://127.0.0.1:9/"]},
            "model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 10}]}}
    assert main(["time", str(write_config(tmp_path, data)), "--repeats", "1"]) == 2
    assert "was kept, but its sha256" in capsys.readouterr().err
