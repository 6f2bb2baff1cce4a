"""Run directories: never overwritten by accident, never mixed, readable as the umask says, and a resume
that has nothing to do says so."""

import json
import os
import shutil

import numpy as np
import pytest
import yaml
from safetensors import safe_open

from layerwise.checkpoint import atomic_write
from layerwise.cli import main
from tests.test_cli import SMALL, write_config


def train(config, out, *extra):
    return main(["train", str(config), "--out", str(out), "--progress", "off", *extra])


def run_ids(run_dir):
    """The run id each of the four run files carries."""
    ids = {"config.yaml": yaml.safe_load((run_dir / "config.yaml").read_text())["run_id"],
           "summary.json": json.loads((run_dir / "summary.json").read_text())["run_id"]}
    for name in ("model.safetensors", "checkpoint.safetensors"):
        with safe_open(str(run_dir / name), "np") as f:
            ids[name] = json.loads(f.metadata()["run_id"])
    return ids


def test_every_run_file_carries_the_same_new_run_id(tmp_path):
    config = write_config(tmp_path)
    assert train(config, tmp_path / "a") == 0 and train(config, tmp_path / "b") == 0
    a, b = run_ids(tmp_path / "a"), run_ids(tmp_path / "b")
    assert len(set(a.values())) == 1 and len(set(b.values())) == 1
    (id_a,), (id_b,) = set(a.values()), set(b.values())
    assert len(id_a) == 32 and int(id_a, 16) >= 0 and id_a != id_b
    # a run's config.yaml used as a new config starts a new run with a new id
    assert train(tmp_path / "a" / "config.yaml", tmp_path / "c") == 0
    assert set(run_ids(tmp_path / "c").values()) != {id_a}


def test_out_that_holds_a_run_is_refused_and_left_as_it_was(tmp_path, capsys):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert train(config, out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert train(config, out, "--set", "training.epochs=1") == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{out} already holds a run" in err
    assert f"--resume {out}" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # an existing folder without a run is fine; a file is not a folder
    (tmp_path / "empty").mkdir()
    assert train(config, tmp_path / "empty") == 0
    capsys.readouterr()
    assert train(config, config) == 2 and "is a file" in capsys.readouterr().err


def test_overwrite_replaces_the_runs_files_and_keeps_everything_else(tmp_path, capsys):
    config, out = write_config(tmp_path), tmp_path / "run"
    assert train(config, out) == 0
    old_id = run_ids(out)["config.yaml"]
    (out / "notes.txt").write_text("the user's own")
    (out / "extra").mkdir()
    for stale in ("compare.md", "compare_accuracy.png", "attack.json", "saliency.png"):
        (out / stale).write_text("from the old run")
    assert train(config, out, "--overwrite", "--set", "training.epochs=2") == 0
    assert (out / "notes.txt").read_text() == "the user's own" and (out / "extra").is_dir()
    assert not any((out / stale).exists() for stale in ("compare.md", "compare_accuracy.png", "attack.json",
                                                         "saliency.png"))
    ids = set(run_ids(out).values())
    assert len(ids) == 1 and ids != {old_id}
    assert json.loads((out / "summary.json").read_text())["epochs_run"] == 2
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0 and "reproduced" in capsys.readouterr().out


def test_overwrite_never_deletes_the_config_it_trains(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(write_config(tmp_path), out) == 0
    inside = write_config(out, name="config.yaml")     # the old run's own config, trained again
    capsys.readouterr()
    assert train(inside, out, "--overwrite") == 2
    assert "--overwrite would delete" in capsys.readouterr().err and inside.is_file()
    other = write_config(out, name="inside.yaml")      # any other file there is kept anyway
    assert train(other, out, "--overwrite", "--set", "training.epochs=1") == 0 and other.is_file()
    assert main(["train", str(other), "--overwrite"]) == 2      # --overwrite without --out
    assert "--overwrite needs --out" in capsys.readouterr().err


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_folder_of_other_things_is_not_made_a_run_folder(tmp_path, capsys, overwrite):
    folder = tmp_path / "configs"
    folder.mkdir()
    config = write_config(folder)
    (folder / "notes.txt").write_text("x")
    assert train(config, folder, *overwrite) == 2
    assert (f"{folder} is not empty (notes.txt, tiny.yaml) and holds no run; give a new or empty folder"
            in capsys.readouterr().err)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "tiny.yaml"]
    (tmp_path / "empty").mkdir()
    assert train(config, tmp_path / "empty") == 0


@pytest.mark.parametrize("stray", ["model.safetensors", "summary.json", "checkpoint.safetensors"])
def test_evaluate_and_resume_refuse_a_folder_that_mixes_two_runs(tmp_path, capsys, stray):
    config = write_config(tmp_path, {**SMALL, "training": {"epochs": 2, "batch_size": 64}})
    assert train(config, tmp_path / "old") == 0 and train(config, tmp_path / "new") == 0
    shutil.copy(tmp_path / "old" / stray, tmp_path / "new" / stray)
    capsys.readouterr()
    for argv in (["evaluate", str(tmp_path / "new")], ["train", "--resume", str(tmp_path / "new")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        assert f"{tmp_path / 'new' / stray} belongs to run" in err and "mixes two runs" in err


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_run_files_get_the_permissions_the_umask_gives(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        out = tmp_path / "run"
        assert train(write_config(tmp_path), out) == 0
        names = sorted(p.name for p in out.iterdir())
        assert {"metrics.csv", "learning_curves.png", "confusion_matrix.png", "model.safetensors"} <= set(names)
        assert not [n for n in names if n.startswith(".")]        # no temporary file left behind
        assert {n: oct(os.stat(out / n).st_mode & 0o777) for n in names} == {n: oct(mode) for n in names}
        assert os.stat(out).st_mode & 0o777 == 0o777 & ~umask
        np.savez(tmp_path / "x.npz", X=np.zeros((2, 64)))
        assert main(["predict", str(out), str(tmp_path / "x.npz"), "--out", str(tmp_path / "p.csv")]) == 0
        assert os.stat(tmp_path / "p.csv").st_mode & 0o777 == mode
    finally:
        os.umask(previous)


def test_exclusive_atomic_write_never_replaces_a_file(tmp_path):
    path = atomic_write(tmp_path / "config.yaml", "first", exclusive=True)
    with pytest.raises(FileExistsError):
        atomic_write(path, "second", exclusive=True)
    assert path.read_text() == "first" and os.listdir(tmp_path) == ["config.yaml"]


def test_resume_of_a_finished_run_says_what_it_did_not_do(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(write_config(tmp_path), out) == 0              # 4 epochs
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", "training.epochs=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"layerwise: error: {out} already has 4 epochs; to train more, --set training.epochs=N "
                   "with N > 4.")
    assert main(["train", "--resume", str(out), "--progress", "off"]) == 0
    printed = capsys.readouterr().out
    assert f"{out} has all its 4 epochs: nothing to do; to train more, --set training.epochs=N with N > 4." in printed
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before    # nothing rewritten


def test_resume_after_early_stopping_cannot_train_longer(tmp_path, capsys):
    data = {**SMALL, "training": {"epochs": 30, "batch_size": 64,
                                  "early_stopping": {"patience": 1, "monitor": "val_loss", "min_delta": 0.5}}}
    out = tmp_path / "run"
    assert train(write_config(tmp_path, data), out) == 0
    stopped = json.loads((out / "summary.json").read_text())["epochs_run"]
    assert stopped < 30
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", "training.epochs=60"]) == 2
    assert f"stopped early at epoch {stopped}" in capsys.readouterr().err
    # a new patience was taken as 'nothing to do', exit 0, as if it had been applied
    for change in ("training.early_stopping.patience=6", "training.early_stopping=null"):
        assert main(["train", "--resume", str(out), "--set", change]) == 2
        err = capsys.readouterr().err
        assert "a --set training.early_stopping would change nothing; start a new run with it" in err
    assert main(["train", "--resume", str(out), "--progress", "off"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    # in Python, that resume hands back the model the summary describes: the kept epoch's, not the last one's
    from layerwise import run
    from layerwise.checkpoint import load_arrays
    exp = run.resume(out, progress="off")
    kept, _ = load_arrays(out / "model.safetensors")
    last, _ = load_arrays(out / "checkpoint.safetensors")
    assert "nothing to do" in exp.note and not exp.model.training
    assert all(np.array_equal(v, kept[k]) for k, v in exp.model.state_dict().items())
    assert not all(np.array_equal(v, last["model." + k]) for k, v in exp.model.state_dict().items())


def test_stopped_between_the_metrics_and_the_checkpoint_no_epoch_is_lost(tmp_path, monkeypatch):
    """A Ctrl-C (or a full disk) between the two files written after the last epoch: the resume ends with every
    epoch in metrics.csv. Written checkpoint first, the checkpoint held an epoch that metrics.csv never got."""
    from layerwise import run
    config, out = write_config(tmp_path), tmp_path / "run"       # 4 epochs: 5 saves of two files each
    writes = []

    def counted(real):
        def write(*args, **kwargs):
            writes.append(real.__name__)
            if len(writes) == 10:           # the second file of the save after epoch 4
                raise KeyboardInterrupt
            return real(*args, **kwargs)
        return write
    real = run.save_arrays, run._write_metrics
    monkeypatch.setattr(run, "save_arrays", counted(real[0]))
    monkeypatch.setattr(run, "_write_metrics", counted(real[1]))
    with pytest.raises(KeyboardInterrupt):
        run.fit(config, out=out, progress="off")
    monkeypatch.setattr(run, "save_arrays", real[0])
    monkeypatch.setattr(run, "_write_metrics", real[1])
    exp = run.resume(out, progress="off")
    rows = (out / "metrics.csv").read_text().splitlines()[1:]
    assert len(exp.history) == 4 and exp.summary["epochs_run"] == 4
    assert [row.split(",")[0] for row in rows] == ["1", "2", "3", "4"]


def test_a_finished_run_trained_further_is_unfinished_until_its_new_end(tmp_path, capsys, monkeypatch):
    from pathlib import Path

    import layerwise as lw

    class StopAfter(lw.Callback):
        def on_epoch_end(self, trainer, row):
            if trainer.epoch == 6:
                raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    out = Path("run")                                           # relative, as typed on the command line
    assert train(write_config(tmp_path), out) == 0              # 4 epochs, finished
    old_summary = (out / "summary.json").read_bytes()
    compared = ["compare.json", "compare.md", "compare_accuracy.png"]    # as layerwise compare --out leaves them
    for name in compared:
        (out / name).write_text("the epoch-4 comparison")
    with pytest.raises(KeyboardInterrupt):
        lw.run.resume(out, overrides=["training.epochs=8"], progress="off", callbacks=[StopAfter()])
    # the epoch-4 model and summary no longer describe the run: it is not finished
    assert not (out / "summary.json").exists() and not (out / "model.safetensors").exists()
    assert not any((out / name).exists() for name in compared)
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 2
    assert "has not finished" in capsys.readouterr().err
    # the checkpoint holds epoch 6: finishing there writes the epoch-6 model and summary
    (out / "summary.json").write_bytes(old_summary)            # even a stale summary left by an older layerwise
    assert main(["train", "--resume", str(out), "--set", "training.epochs=6", "--progress", "off"]) == 0
    assert "nothing to do" not in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["epochs_run"] == 6
    assert main(["evaluate", str(out)]) == 0


def test_resume_refuses_a_config_yaml_edited_since_the_checkpoint(tmp_path, capsys):
    config = write_config(tmp_path, {**SMALL, "training": {"epochs": 2, "batch_size": 64}})
    out = tmp_path / "run"
    assert train(config, out) == 0
    original = (out / "config.yaml").read_text()
    edited = yaml.safe_load(original)
    edited["optimizer"]["lr"] = 0.2
    edited["model"]["layers"][1]["units"] += 1
    (out / "config.yaml").write_text(yaml.safe_dump(edited))
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", "training.epochs=3", "--progress", "off"]) == 2
    err = capsys.readouterr().err
    assert (f"{out / 'config.yaml'} is not the config checkpoint.safetensors was trained with "
            "(model.layers[1].units, optimizer.lr changed)") in err
    (out / "config.yaml").write_text(original)           # put back: resumes, to more epochs with --set
    assert main(["train", "--resume", str(out), "--set", "training.epochs=3", "--progress", "off"]) == 0
    assert json.loads((out / "summary.json").read_text())["epochs_run"] == 3


def test_evaluate_does_not_need_the_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(write_config(tmp_path, {**SMALL, "training": {"epochs": 1, "batch_size": 64}}), out) == 0
    ckpt = out / "checkpoint.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])          # truncated: resume cannot use it, evaluate never reads it
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0 and "reproduced" in capsys.readouterr().out
    assert main(["train", "--resume", str(out), "--set", "training.epochs=2", "--progress", "off"]) == 2


def test_a_full_disk_names_the_file_being_written_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))    # what fsync raises: no file name

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as caught:
        atomic_write(tmp_path / "summary.json", "{}")
    assert caught.value.filename == str(tmp_path / "summary.json") and caught.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []
    config = write_config(tmp_path)
    assert train(config, tmp_path / "run") == 2
    assert f"layerwise: error: {tmp_path / 'run' / 'config.yaml'}: No space left on device." in capsys.readouterr().err


@pytest.mark.parametrize("file", ["summary.json", "checkpoint.safetensors", "model.safetensors"])
def test_a_run_id_that_is_not_a_string_is_a_damaged_file(tmp_path, capsys, file):
    from layerwise.checkpoint import load_arrays, save_arrays
    config, out = write_config(tmp_path), tmp_path / "run"
    assert train(config, out) == 0
    if file == "summary.json":
        summary = json.loads((out / file).read_text())
        (out / file).write_text(json.dumps({**summary, "run_id": 7}))
    else:
        arrays, meta = load_arrays(out / file)
        save_arrays(out / file, arrays, {**meta, "run_id": 7})
    capsys.readouterr()
    for argv in (["evaluate", str(out)], ["train", "--resume", str(out), "--progress", "off"]):
        if file == "model.safetensors" and argv[0] == "train":
            continue        # resume reads the checkpoint and summary; model.safetensors is written again
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err == f"layerwise: error: {out / file}: damaged: its run_id is 7, where layerwise writes a string.\n"


def test_a_file_name_near_the_file_systems_limit_is_written(tmp_path):
    """The temporary name added 14 characters to the name: a 250-character name could not be written."""
    name = "p" * 246 + ".csv"
    atomic_write(tmp_path / name, b"a,b\n")
    assert (tmp_path / name).read_bytes() == b"a,b\n" and os.listdir(tmp_path) == [name]


def test_a_checkpoint_recorded_before_a_schema_key_was_added_still_resumes(tmp_path, capsys):
    """schedule.threshold and threshold_mode came after plateau runs were trained: their checkpoints record a
    config without them, which resume took for an edited config.yaml."""
    from layerwise.checkpoint import load_arrays, save_arrays
    data = {**SMALL, "schedule": {"type": "plateau", "patience": 1}, "training": {"epochs": 2, "batch_size": 64}}
    out = tmp_path / "run"
    assert train(write_config(tmp_path, data), out, "--set", "training.epochs=1") == 0
    arrays, meta = load_arrays(out / "checkpoint.safetensors")
    del meta["config"]["schedule"]["threshold"], meta["config"]["schedule"]["threshold_mode"]
    save_arrays(out / "checkpoint.safetensors", arrays, meta)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", "training.epochs=2", "--progress", "off"]) == 0
    # a key whose value did change is still refused
    arrays, meta = load_arrays(out / "checkpoint.safetensors")
    meta["config"]["schedule"]["patience"] = 4
    save_arrays(out / "checkpoint.safetensors", arrays, meta)
    assert main(["train", "--resume", str(out), "--set", "training.epochs=3", "--progress", "off"]) == 2
    assert "(schedule.patience changed)" in capsys.readouterr().err


def test_integer_weights_in_a_checkpoint_are_refused_on_resume(tmp_path, capsys):
    from layerwise.checkpoint import load_arrays, save_arrays
    out = tmp_path / "run"
    assert train(write_config(tmp_path), out, "--set", "training.epochs=1") == 0
    arrays, meta = load_arrays(out / "checkpoint.safetensors")
    arrays["model.1.W"] = (arrays["model.1.W"] * 100).astype(np.int32)
    save_arrays(out / "checkpoint.safetensors", arrays, meta)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", "training.epochs=2", "--progress", "off"]) == 2
    assert capsys.readouterr().err == (f"layerwise: error: {out / 'checkpoint.safetensors'}: its array 'model.1.W' "
                                       "holds int32 where layerwise writes floats: the file was changed after it was "
                                       "written.\n")


def test_resume_of_a_finished_run_without_its_model_file_has_nothing_to_do(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(write_config(tmp_path), out) == 0
    (out / "model.safetensors").unlink()
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--progress", "off"]) == 0
    assert "nothing to do" in capsys.readouterr().out


@pytest.mark.parametrize("edit, says", [
    (lambda a: a.update({"optim.1.W.momentum_buffer": a["optim.1.W.momentum_buffer"][:32]}),
     "its 'momentum_buffer' is float32 of shape (32, 32), expected float32 of shape (64, 32) as the parameter"),
    (lambda a: a.update({"optim.1.W.momentum_buffer": a["optim.1.W.momentum_buffer"].astype(np.int32)}),
     "its 'momentum_buffer' is int32 of shape (64, 32), expected float32"),
    (lambda a: a["optim.1.W.momentum_buffer"].__setitem__((0, 0), np.nan), "its 'momentum_buffer' holds NaN or Inf"),
    (lambda a: (a.pop("optim.1.b.momentum_buffer"), a.update({"optim.1.b.velocity": np.zeros(32, np.float32)})),
     "holds ['velocity'], expected ['momentum_buffer']"),
])
def test_optimizer_state_a_step_could_not_use_is_refused_before_a_finished_run_loses_its_files(
        tmp_path, capsys, edit, says):
    """It crashed at the first step with NumPy's message (exit 1), or stepped on in NaN; resuming a finished run
    had already deleted its model.safetensors and summary.json by then."""
    from layerwise.checkpoint import load_arrays, save_arrays
    out = tmp_path / "run"
    assert train(write_config(tmp_path), out, "--set", "training.epochs=1") == 0
    arrays, meta = load_arrays(out / "checkpoint.safetensors")
    edit(arrays)
    save_arrays(out / "checkpoint.safetensors", arrays, meta)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", "training.epochs=2", "--progress", "off"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"layerwise: error: {out / 'checkpoint.safetensors'}: the checkpoint is damaged")
    assert f"the optimizer state of parameter '1.{'b' if 'velocity' in says else 'W'}': {says}" in err
    assert (out / "model.safetensors").is_file() and (out / "summary.json").is_file()


def _early_stopped_run(tmp_path, monitor="val_loss", epochs=3):
    data = {**SMALL, "training": {"epochs": epochs, "batch_size": 64,
                                  "early_stopping": {"patience": 10, "monitor": monitor}}}
    out = tmp_path / "run"
    assert train(write_config(tmp_path, data), out) == 0
    return out


def test_a_resume_watching_another_metric_starts_early_stopping_afresh(tmp_path, capsys):
    """The best val_loss was kept and compared as an accuracy: a rising val_accuracy never beat it, training
    'stopped early' and kept the weights of the epoch of the old best."""
    from layerwise.checkpoint import load_arrays
    out = _early_stopped_run(tmp_path)
    assert main(["train", "--resume", str(out), "--set", "training.epochs=5", "--set",
                 "training.early_stopping={patience: 1, monitor: val_accuracy}", "--progress", "off"]) == 0
    _, meta = load_arrays(out / "checkpoint.safetensors")
    state = meta["trainer"]["callbacks"]["early_stopping"]
    rows = json.loads((out / "summary.json").read_text())
    history = meta["trainer"]["history"]
    later = [row["val_accuracy"] for row in history[3:]]
    assert state["monitor"] == "val_accuracy" and state["best"] == max(later)
    assert rows["kept_epoch"] == 4 + later.index(max(later))


@pytest.mark.parametrize("edit, says", [
    (lambda a: a["early_stopping.1.W"].__setitem__((0, 0), np.nan), "early stopping's best weight '1.W' holds NaN"),
    (lambda a: a.update({"early_stopping.1.W": a["early_stopping.1.W"].astype(np.int64)}),
     "early stopping's best weight '1.W' is int64 of shape (64, 32), expected float32 of shape (64, 32)"),
    (lambda a: [a.pop(k) for k in list(a) if k.startswith("early_stopping.")],
     "early stopping recorded epoch 3 as the best but holds no weights of it"),
    (lambda a: a.pop("early_stopping.1.b"), "early stopping's best weights do not name the model's arrays (1.b)"),
])
def test_early_stoppings_best_weights_in_a_checkpoint_are_checked_as_the_models(tmp_path, capsys, edit, says):
    """NaN weights were restored and saved as the final model; integer ones truncated to whole numbers; missing
    ones left the last epoch's weights under a summary naming the best; one missing crashed at the very end."""
    from layerwise.checkpoint import load_arrays, save_arrays
    out = _early_stopped_run(tmp_path)
    arrays, meta = load_arrays(out / "checkpoint.safetensors")
    assert meta["trainer"]["callbacks"]["early_stopping"]["best_epoch"] == 3
    edit(arrays)
    save_arrays(out / "checkpoint.safetensors", arrays, meta)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", "training.epochs=4", "--progress", "off"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"layerwise: error: {out / 'checkpoint.safetensors'}: the checkpoint is damaged") and says in err
    assert (out / "model.safetensors").is_file()


def test_a_resume_on_other_data_is_refused_and_on_the_same_data_moved_goes_on(tmp_path, capsys):
    """data.path may change on resume so that moved files are found again; other files of the same shape were
    taken without a word and training went on with them (val_accuracy fell from 0.94 to 0.09)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 6)), rng.integers(0, 3, 120)
    np.savez(tmp_path / "a.npz", X=X, y=y)
    data = {**SMALL, "data": {"dataset": "npz", "path": str(tmp_path / "a.npz"), "val_fraction": 0.2},
            "model": {"layers": [{"type": "linear", "units": 8}, {"type": "relu"}, {"type": "linear", "units": 3}]},
            "training": {"epochs": 1, "batch_size": 16}}
    out = tmp_path / "run"
    assert train(write_config(tmp_path, data), out) == 0
    np.savez(tmp_path / "b.npz", X=X, y=np.roll(y, 1))          # the same shapes, other labels
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", f"data.path={tmp_path / 'b.npz'}", "--set",
                 "training.epochs=2", "--progress", "off"]) == 2
    err = capsys.readouterr().err
    assert (f"the data at data.path ({tmp_path / 'b.npz'}) is not the data this run was trained on (its sha256 "
            "differs)") in err and (out / "summary.json").is_file()
    (tmp_path / "moved").mkdir()
    shutil.copy(tmp_path / "a.npz", tmp_path / "moved" / "a.npz")
    assert main(["train", "--resume", str(out), "--set", f"data.path={tmp_path / 'moved' / 'a.npz'}", "--set",
                 "training.epochs=2", "--progress", "off"]) == 0
    assert json.loads((out / "summary.json").read_text())["epochs_run"] == 2


def test_commands_suggested_in_messages_quote_a_path_with_a_space(tmp_path, capsys):
    """'continue with: layerwise train --resume /tmp/sp ace' was pasted as two arguments: 'train takes either
    CONFIG or --resume RUN_DIR, not both'."""
    import shlex

    from layerwise.cli import _resume_hint
    out = tmp_path / "my runs" / "a b"
    out.parent.mkdir()
    assert train(write_config(tmp_path), out, "--set", "training.epochs=1") == 0
    capsys.readouterr()
    assert train(write_config(tmp_path), out, "--set", "training.epochs=1") == 2
    err = capsys.readouterr().err
    assert err.rstrip().endswith(f"continue it with: layerwise train --resume {shlex.quote(str(out))}")
    assert shlex.split(err.rstrip().rpartition(": ")[2]) == ["layerwise", "train", "--resume", str(out)]

    class Stopped(Exception):
        run_dir, epoch = out, 3
    hint = _resume_hint(Stopped())
    assert shlex.split(hint.rpartition("continue with: ")[2]) == ["layerwise", "train", "--resume", str(out)]


@pytest.mark.parametrize("edit, says", [
    (lambda t: t["schedule"].update(best="abc"), "the monitored best value is 'abc', expected a number"),
    (lambda t: t["schedule"].update(scale=0), "the schedule's rate factor is 0, expected a number > 0"),
    (lambda t: t["schedule"].update(wait=-2), "the epochs without improvement are -2, expected an int >= 0"),
    (lambda t: t.update(module_rngs={}), "it holds no state of the random generator '3.rng' (Dropout masks)"),
    (lambda t: t.update(epoch=3), "the trainer state is at epoch 3 but its history holds 2 epochs"),
])
def test_edited_trainer_state_in_a_checkpoint_is_one_line_before_the_run_changes(tmp_path, capsys, edit, says):
    """A best of 'abc' crashed in the middle of training with a traceback; a rate factor of 0 trained at rate 0;
    without the Dropout generator's state, or with an epoch its history does not reach, the resume went on and
    was no longer the run it continues (metrics.csv skipped an epoch)."""
    from layerwise.checkpoint import load_arrays, save_arrays
    data = {**SMALL, "schedule": {"type": "plateau", "patience": 1}, "training": {"epochs": 2, "batch_size": 64}}
    out = tmp_path / "run"
    assert train(write_config(tmp_path, data), out) == 0
    arrays, meta = load_arrays(out / "checkpoint.safetensors")
    edit(meta["trainer"])
    save_arrays(out / "checkpoint.safetensors", arrays, meta)
    kept = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "checkpoint.safetensors"}
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", "training.epochs=3", "--progress", "off"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"layerwise: error: {out / 'checkpoint.safetensors'}: the checkpoint is damaged") and says in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != "checkpoint.safetensors"} == kept


@pytest.mark.parametrize("restore", [True, False])
def test_kept_epoch_names_the_weights_saved_with_an_early_stopping_passed_in_callbacks(tmp_path, restore):
    """With restore_best=False the last epoch's weights were saved under a kept_epoch of the best one."""
    import layerwise as lw
    es = lw.EarlyStopping("val_loss", patience=100, restore_best=restore)
    data = {**SMALL, "optimizer": {"type": "adam", "lr": 0.05}, "schedule": {"type": "none"},
            "training": {"epochs": 6, "batch_size": 64}}          # val_loss turns up at the last epoch
    exp = lw.run.fit(data, out=tmp_path / "run", progress="off", callbacks=[es])
    losses = [row["val_loss"] for row in exp.trainer.history]
    assert es.best_epoch == losses.index(min(losses)) + 1 < 6
    assert exp.summary["kept_epoch"] == (es.best_epoch if restore else 6)


def test_a_run_made_before_a_new_runs_check_was_added_is_still_read_back(tmp_path, capsys, monkeypatch):
    """The checks that guard a new training (a warm-up longer than training, every layer frozen, a test share for
    data with its own test split) ran on evaluate, predict and the analysis commands too: a run made before
    them could no longer be evaluated."""
    import layerwise as lw
    from layerwise import config as config_module
    from layerwise import run as run_module
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    np.savez(tmp_path / "own.npz", X=X, y=(X[:, 0] > 0).astype(int), X_test=X[:20], y_test=(X[:20, 0] > 0).astype(int))
    data = {"data": {"dataset": "npz", "path": str(tmp_path / "own.npz"), "test_fraction": 0.5},
            "model": {"layers": [{"type": "linear", "units": 2, "frozen": True}]},
            "schedule": {"type": "cosine", "warmup_epochs": 3}, "training": {"epochs": 2, "batch_size": 16}}
    with monkeypatch.context() as m:       # as the code before those checks made it
        m.setattr(config_module, "_check_consistency", lambda config: None)
        m.setattr(config_module, "DATA_KEYS_READ_BY", {})
        m.setattr(run_module, "check_something_trains", lambda config, model: None)
        m.setattr(run_module, "DataConfig", lambda: type("D", (), {"test_fraction": 0.5})())
        lw.run.fit(data, out=tmp_path / "run", progress="off")
    capsys.readouterr()
    assert main(["validate", str(tmp_path / "run" / "config.yaml")]) == 2       # a new run from it: refused
    assert "schedule.warmup_epochs (3) is more than training.epochs (2)" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    assert "test_accuracy 0.4: reproduced" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "own.npz"), "--out", str(tmp_path / "p.csv")]) == 0


def test_a_run_read_back_splits_its_data_with_its_own_test_fraction(tmp_path, capsys):
    """Read back (evaluate, resume, the analysis commands), a run's test_fraction fell back to the default:
    evaluate split 360 test samples instead of 540 and said the run did not reproduce."""
    from layerwise.analysis.runs import load_run
    data = {**SMALL, "data": {"dataset": "digits", "val_fraction": 0.1, "test_fraction": 0.3},
            "training": {"epochs": 1, "batch_size": 64}}
    out = tmp_path / "run"
    assert train(write_config(tmp_path, data), out) == 0
    assert json.loads((out / "summary.json").read_text())["n_test"] == 540
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    assert '"n_test": 540' in capsys.readouterr().out
    assert len(load_run(out).data.X_test) == 540
    assert main(["train", "--resume", str(out), "--set", "training.epochs=2", "--progress", "off"]) == 0
    assert json.loads((out / "summary.json").read_text())["n_test"] == 540


def test_a_resume_that_shortens_training_below_the_warm_up_is_refused(tmp_path, capsys):
    data = {**SMALL, "schedule": {"type": "cosine", "warmup_epochs": 3}, "training": {"epochs": 4, "batch_size": 64}}
    out = tmp_path / "run"
    assert train(write_config(tmp_path, data), out, "--set", "training.epochs=3") == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", "training.epochs=2", "--progress", "off"]) == 2
    assert ("schedule.warmup_epochs (3) is more than training.epochs (2): the rate would still be rising when training "
            "ends") in capsys.readouterr().err
    assert main(["evaluate", str(out)]) == 0


def test_a_checkpoint_without_one_parameters_optimizer_state_does_not_resume(tmp_path, capsys):
    """Adam started that parameter again from step 1 and the resume was no longer the run it continues."""
    from layerwise.checkpoint import load_arrays, save_arrays
    data = {**SMALL, "optimizer": {"type": "adam", "lr": 0.01}, "training": {"epochs": 1, "batch_size": 64}}
    out = tmp_path / "run"
    assert train(write_config(tmp_path, data), out) == 0
    arrays, meta = load_arrays(out / "checkpoint.safetensors")
    save_arrays(out / "checkpoint.safetensors", {k: v for k, v in arrays.items() if not k.startswith("optim.1.W.")},
                meta)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--set", "training.epochs=2", "--progress", "off"]) == 2
    assert "the optimizer state of parameter '1.W' is missing, though the checkpoint was taken after" in \
        capsys.readouterr().err
