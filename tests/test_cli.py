"""The `layerwise` command as a user runs it: train, evaluate, validate, resume, Ctrl-C."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.numpy import load_file

from layerwise.cli import main

SMALL = {
    "name": "tiny",
    "seed": 3,
    "data": {"dataset": "digits", "val_fraction": 0.1},
    "model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 32, "init": "he_uniform"},
                         {"type": "relu"}, {"type": "dropout", "p": 0.1}, {"type": "linear", "units": 10}]},
    "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9},
    "schedule": {"type": "step", "step_size": 2, "gamma": 0.5},
    "training": {"epochs": 4, "batch_size": 64},
}


def write_config(folder, data=SMALL, name="tiny.yaml"):
    path = Path(folder) / name
    path.write_text(yaml.safe_dump(data))
    return path


def metrics(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k not in ("seconds", "samples_per_second")}
                for row in csv.DictReader(f)]


def test_train_writes_a_complete_run_directory_and_evaluate_reproduces_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(write_config(tmp_path)), "--out", str(out), "--progress", "lines"]) == 0
    printed = capsys.readouterr().out
    assert "epoch   4/4" in printed and "test accuracy" in printed
    for name in ("config.yaml", "metrics.csv", "summary.json", "model.safetensors", "checkpoint.safetensors",
                 "learning_curves.png", "confusion_matrix.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    for key in ("test_accuracy", "test_loss", "best_val_accuracy", "epochs_run", "train_seconds", "n_params", "seed"):
        assert key in summary
    assert summary["epochs_run"] == 4 and summary["seed"] == 3 and summary["test_accuracy"] > 0.85
    assert summary["n_params"] == 64 * 32 + 32 + 32 * 10 + 10
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["training"]["eval_batch_size"] == 1024 and resolved["data"]["normalize"] == "scale"
    assert len(metrics(out)) == 4
    assert (out / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main(["evaluate", str(out)]) == 0
    result = json.loads(capsys.readouterr().out.split("\nsummary.json")[0])
    assert result["test_accuracy"] == summary["test_accuracy"]
    assert result["test_loss"] == summary["test_loss"]


def test_evaluate_exits_1_when_the_run_does_not_reproduce(tmp_path, capsys):
    out = tmp_path / "run"
    config = dict(SMALL, training={"epochs": 1, "batch_size": 64})
    assert main(["train", str(write_config(tmp_path, config)), "--out", str(out), "--progress", "off"]) == 0
    original = json.loads((out / "summary.json").read_text())
    for key, change in (("test_accuracy", -0.01), ("test_loss", 1e-4)):    # the loss alone moved: data edited
        summary = dict(original, **{key: original[key] + change})
        (out / "summary.json").write_text(json.dumps(summary))
        capsys.readouterr()
        assert main(["evaluate", str(out)]) == 1
        err = capsys.readouterr().err
        assert f"summary.json {key} {summary[key]} is DIFFERENT" in err and "does not reproduce" in err
    # nothing to compare with: not called reproduced
    (out / "summary.json").write_text(json.dumps({k: v for k, v in original.items() if not k.startswith("test_")}))
    assert main(["evaluate", str(out)]) == 1
    assert "has no test figures: there is nothing to compare" in capsys.readouterr().err
    (out / "summary.json").unlink()
    assert main(["evaluate", str(out)]) == 1
    assert "summary.json is missing: there is nothing to compare" in capsys.readouterr().err


def test_evaluate_set_may_move_the_data_but_not_change_the_test_set(tmp_path, capsys):
    out = tmp_path / "run"
    config = dict(SMALL, training={"epochs": 1, "batch_size": 64})
    assert main(["train", str(write_config(tmp_path, config)), "--out", str(out), "--progress", "off"]) == 0
    capsys.readouterr()
    # seed and the fractions choose the test samples: refused, not scored on a split that holds training samples
    for assignment in ("seed=5", "data.test_fraction=0.5", "model.layers.1.units=8"):
        assert main(["evaluate", str(out), "--set", assignment]) == 2
        err = capsys.readouterr().err
        assert f"--set {assignment}: evaluate can only change" in err and "layerwise predict" in err
    # batching does not change the figures beyond float32 rounding: still compared with summary.json
    assert main(["evaluate", str(out), "--set", "training.eval_batch_size=7"]) == 0
    assert "reproduced" in capsys.readouterr().out
    # a regression's RMSE moves in its last digits with the batches (float32 sums grouped otherwise)
    reg = tmp_path / "reg"
    diabetes = Path(__file__).resolve().parents[1] / "configs" / "diabetes_mlp.yaml"
    assert main(["train", str(diabetes), "--out", str(reg), "--progress", "off",
                 "--set", "training.epochs=3"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(reg), "--set", "training.eval_batch_size=7"]) == 0
    assert "DIFFERENT" not in capsys.readouterr().err


def test_model_file_is_safetensors_with_the_resolved_config_in_its_metadata(tmp_path):
    out = tmp_path / "run"
    main(["train", str(write_config(tmp_path)), "--out", str(out), "--progress", "off"])
    from safetensors import safe_open
    with safe_open(str(out / "model.safetensors"), "np") as f:
        meta = f.metadata()
        assert set(f.keys()) == {"1.W", "1.b", "4.W", "4.b", "input:scale"}   # digits: x / 16
    assert json.loads(meta["config"])["model"]["layers"][1]["units"] == 32
    assert json.loads(meta["classes"]) == list(range(10))


def test_validate_prints_the_model_summary_without_training(tmp_path, capsys):
    assert main(["validate", str(write_config(tmp_path)), "--set", "model.layers.1.units=48"]) == 0
    out = capsys.readouterr().out
    assert "Linear(64 -> 48)" in out and "(N, 10)" in out and f"{64 * 48 + 48 + 48 * 10 + 10:,}" in out
    assert not list(tmp_path.glob("runs"))


def test_validate_checks_an_mnist_model_before_its_files_exist(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAYERWISE_DATA", str(tmp_path / "empty-cache"))
    cfg = {**SMALL, "data": {"dataset": "mnist"}}
    assert main(["validate", str(write_config(tmp_path, cfg))]) == 2     # it cannot train yet
    captured = capsys.readouterr()
    assert "(N, 1, 28, 28)" in captured.out and "Linear(784 -> 32)" in captured.out
    assert captured.err.startswith("layerwise: error:") and "train-images-idx3-ubyte.gz" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    # a model that does not fit 28x28 inputs and 10 classes is still an error
    bad = {**cfg, "model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 3}]}}
    assert main(["validate", str(write_config(tmp_path, bad))]) == 2
    assert "needs (10,)" in capsys.readouterr().err


def test_set_indexes_lists_with_brackets_as_errors_print_them(tmp_path, capsys):
    assert main(["validate", str(write_config(tmp_path)), "--set", "model.layers[1].units=40",
                 "--set", "model.layers[-1].units=10"]) == 0
    assert "Linear(64 -> 40)" in capsys.readouterr().out
    assert main(["validate", str(write_config(tmp_path)), "--set", "model.layers[9].units=3"]) == 2
    assert "is a list of 5 items" in capsys.readouterr().err


def test_set_overrides_are_parsed_as_yaml_and_recorded(tmp_path):
    out = tmp_path / "run"
    main(["train", str(write_config(tmp_path)), "--out", str(out), "--progress", "off",
          "--set", "training.epochs=2", "--set", "optimizer.lr=1e-2", "--set", "optimizer.nesterov=true"])
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["training"]["epochs"] == 2 and resolved["optimizer"]["lr"] == 0.01
    assert resolved["optimizer"]["nesterov"] is True


@pytest.mark.parametrize("optimizer", [{"type": "sgd", "lr": 0.05, "momentum": 0.9}, {"type": "adam", "lr": 1e-3},
                                       {"type": "adamw", "lr": 1e-3}, {"type": "rmsprop", "lr": 1e-3, "momentum": 0.5},
                                       {"type": "adagrad", "lr": 1e-2}], ids=lambda o: o["type"])
def test_resume_is_bit_exact(tmp_path, optimizer):
    """Every optimizer's state (Adam's step count is a 0-d array in the checkpoint) comes back as it was."""
    config = write_config(tmp_path, {**SMALL, "optimizer": optimizer})
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main(["train", str(config), "--out", str(whole), "--progress", "off"]) == 0
    assert main(["train", str(config), "--out", str(part), "--progress", "off", "--set", "training.epochs=2"]) == 0
    assert len(metrics(part)) == 2
    assert main(["train", "--resume", str(part), "--set", "training.epochs=4", "--progress", "off"]) == 0
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(part / "model.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert metrics(whole) == metrics(part)
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (whole, part))
    assert sa["test_accuracy"] == sb["test_accuracy"] and sa["test_loss"] == sb["test_loss"]


def test_resume_refuses_to_change_the_experiment(tmp_path, capsys):
    run = tmp_path / "run"
    main(["train", str(write_config(tmp_path)), "--out", str(run), "--progress", "off", "--set", "training.epochs=1"])
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--set", "optimizer.lr=0.5"]) == 2
    assert "a resumed run can only change" in capsys.readouterr().err


def test_early_stopping_restores_the_best_weights(tmp_path, capsys):
    data = {**SMALL, "training": {"epochs": 30, "batch_size": 64,
                                  "early_stopping": {"patience": 2, "monitor": "val_loss", "min_delta": 0.05}}}
    out = tmp_path / "run"
    main(["train", str(write_config(tmp_path, data)), "--out", str(out), "--progress", "off"])
    summary = json.loads((out / "summary.json").read_text())
    rows = metrics(out)
    assert summary["stopped_early"] and summary["epochs_run"] == len(rows) < 30
    assert summary["kept_epoch"] == len(rows) - 2
    assert (f"epochs {len(rows)} (stopped early; the weights of epoch {len(rows) - 2}, the best val_loss value, "
            "were kept)") in capsys.readouterr().out
    # the saved model holds the best epoch's weights: it reproduces that epoch's validation loss
    from layerwise import run
    from layerwise.checkpoint import load_model_state
    exp = run.prepare(out / "config.yaml")
    load_model_state(exp.model, out / "model.safetensors")
    val_loss = exp.trainer.evaluate(exp.data.X_val, exp.data.y_val)["loss"]
    assert val_loss == float(rows[summary["kept_epoch"] - 1]["val_loss"])
    assert val_loss != float(rows[-1]["val_loss"])


def test_ctrl_c_leaves_a_run_that_resumes_to_the_same_weights(tmp_path):
    data = {**SMALL, "training": {"epochs": 60, "batch_size": 16}}
    config = write_config(tmp_path, data)
    run = tmp_path / "interrupted"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "layerwise.cli", "train", str(config), "--out", str(run),
                             "--progress", "lines"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    for line in proc.stdout:
        if line.startswith("epoch   2/"):
            proc.send_signal(signal.SIGINT)
            break
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    done = len(metrics(run))
    assert 1 <= done < 60 and not (run / "model.safetensors").exists()

    assert main(["train", "--resume", str(run), "--set", "training.epochs=6", "--progress", "off"]) == 0
    whole = tmp_path / "whole"
    main(["train", str(config), "--out", str(whole), "--progress", "off", "--set", "training.epochs=6"])
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(run / "model.safetensors"))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert metrics(whole) == metrics(run)


def test_ctrl_c_while_the_command_starts_up_is_one_line_and_exit_130(tmp_path):
    """A Ctrl-C that lands while NumPy is being imported (the first second of every command): what the
    console script runs, ``from layerwise.cli import main; main()``, with the import of NumPy interrupted."""
    script = tmp_path / "start.py"
    script.write_text(
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def interrupted(name, *args, **kwargs):\n"
        "    if name == 'numpy' or name.startswith('numpy.'):\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = interrupted\n"
        "from layerwise.cli import main\n"
        f"sys.exit(main(['train', {str(write_config(tmp_path, SMALL))!r}]))\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip() == "layerwise: interrupted."


def test_a_closed_output_pipe_stops_training_with_a_resumable_run_and_no_traceback(tmp_path):
    """``layerwise train ... | head -2``: the reader leaves, training stops and says how to continue."""
    config = write_config(tmp_path, {**SMALL, "training": {"epochs": 60, "batch_size": 16}})
    run = tmp_path / "piped"
    proc = subprocess.Popen([sys.executable, "-m", "layerwise.cli", "train", str(config), "--out", str(run),
                             "--progress", "lines"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout.readline().startswith("epoch   1/")
    proc.stdout.close()                 # what head does after its lines
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "broken pipe" in err
    saved = int(err.split("checkpoint after epoch ")[1].split()[0])
    assert 1 <= saved == len(metrics(run)) < 60
    assert main(["train", "--resume", str(run), "--set", "training.epochs=3", "--progress", "off"]) == 0


def test_an_output_path_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "afile").write_text("not a folder")
    config = write_config(tmp_path, {**SMALL, "training": {"epochs": 1, "batch_size": 64}})
    assert main(["train", str(config), "--out", str(tmp_path / "afile" / "run"), "--progress", "off"]) == 2
    assert "afile/run: Not a directory" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run), "--progress", "off"]) == 0
    np.savez(tmp_path / "new.npz", X=np.zeros((3, 8, 8), np.float32))
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "new.npz"), "--out", str(tmp_path)]) == 2
    assert f"{tmp_path}: Is a directory (give a file name" in capsys.readouterr().err
    assert main(["predict", str(run), str(tmp_path / "new.npz"), "--out", "/proc/x.csv"]) == 2   # takes no new file
    err = capsys.readouterr().err
    assert "/proc/x.csv: " in err and ".tmp" not in err        # the file asked for, not the temporary one


def test_ctrl_c_while_the_plots_are_written_says_how_to_finish_the_run(tmp_path, capsys, monkeypatch):
    import layerwise.analysis.plots as plots

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(plots, "plot_confusion_matrix", interrupted)
        assert main(["train", str(write_config(tmp_path)), "--out", str(run), "--progress", "off"]) == 130
    err = capsys.readouterr().err
    assert f"layerwise train --resume {run}" in err and "epoch 4" in err
    assert not (run / "confusion_matrix.png").exists()
    assert main(["train", "--resume", str(run), "--progress", "off"]) == 0
    assert (run / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_nan_stops_training_naming_the_step_and_keeps_the_checkpoint(tmp_path, capsys):
    data = {**SMALL, "optimizer": {"type": "sgd", "lr": 1.0e+30}, "schedule": {"type": "none"}}
    run = tmp_path / "run"
    assert main(["train", str(write_config(tmp_path, data)), "--out", str(run), "--progress", "off"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "Training stopped at epoch 1, batch" in err and "NaN or Inf" in err and "module" in err
    assert (run / "checkpoint.safetensors").is_file()
    assert err.endswith(f"Resuming it would stop at the same step; start afresh with a change (and your other --set options): layerwise train "
                        f"{write_config(tmp_path, data)} --set optimizer.lr=... --out {run} --overwrite")
    assert main(["evaluate", str(run)]) == 2
    assert "if it was interrupted, resume it with" in capsys.readouterr().err


def test_a_device_as_config_and_an_empty_out_path_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["validate", "/dev/null"]) == 2
    assert capsys.readouterr().err.strip() == "layerwise: error: /dev/null: not a regular file."
    with pytest.raises(SystemExit) as e:      # argparse's own usage error
        main(["train", str(write_config(tmp_path)), "--out", ""])
    assert e.value.code == 2 and "argument --out: an empty path" in capsys.readouterr().err


def test_a_missing_run_or_a_file_given_as_one_is_named_as_such_and_nothing_is_announced(tmp_path, capsys):
    config = write_config(tmp_path)
    for argv, says in ((["evaluate", str(tmp_path / "nope")], f"{tmp_path / 'nope'}: no such run directory."),
                       (["train", "--resume", str(config)], f"{config} is a file; give the run's directory"),
                       (["train", "--resume", str(tmp_path)], f"{tmp_path}: not a run directory (no config.yaml")):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert says in captured.err and captured.out == ""       # no "resuming ..." before the error


def test_a_reader_that_leaves_early_ends_a_command_silently_with_141(tmp_path):
    """``layerwise validate ... | head -1``: no message when nothing was lost (no training stopped)."""
    proc = subprocess.Popen([sys.executable, "-m", "layerwise.cli", "validate", str(write_config(tmp_path))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    assert proc.wait(timeout=120) == 141
    assert proc.stderr.read() == ""


def test_every_help_example_is_valid_shell_and_parses():
    """The examples under each command's --help, pasted into bash: no syntax error (an unquoted '('), and
    arguments the command takes."""
    import shlex

    from layerwise.analysis.commands import EXAMPLES as ANALYSIS_EXAMPLES
    from layerwise.cli import EXAMPLES, _parser
    parser = _parser()
    lines = [line.strip() for text in (*EXAMPLES.values(), *ANALYSIS_EXAMPLES.values())
             for line in text.splitlines()[1:] if line.strip()]
    assert len(lines) >= 20
    for line in lines:
        assert subprocess.run(["bash", "-n", "-c", line]).returncode == 0, line
        words = shlex.split(line)
        assert words[0] == "layerwise", line
        parser.parse_args(words[1:])


def test_best_epoch_is_the_epoch_of_the_best_validation_value_and_kept_epoch_the_saved_weights(tmp_path):
    """Without early stopping best_epoch was the last epoch, next to a best_val_accuracy of another."""
    data = {**SMALL, "training": {"epochs": 5, "batch_size": 64}, "optimizer": {"type": "sgd", "lr": 10.0},
            "schedule": {"type": "none"}}                  # a rate so large the validation accuracy jumps about
    out = tmp_path / "run"
    assert main(["train", str(write_config(tmp_path, data)), "--out", str(out), "--progress", "off"]) == 0
    summary, rows = json.loads((out / "summary.json").read_text()), metrics(out)
    accuracies = [float(r["val_accuracy"]) for r in rows]
    assert summary["best_val_accuracy"] == pytest.approx(max(accuracies))
    assert summary["best_epoch"] == accuracies.index(max(accuracies)) + 1 < 5 == summary["kept_epoch"]


def test_more_ctrl_c_while_the_first_is_handled_print_no_traceback(tmp_path):
    """GNU timeout -s INT sends two SIGINTs; one that landed while the first was reported (or during the
    interpreter's shutdown) printed a traceback."""
    config = write_config(tmp_path, {**SMALL, "training": {"epochs": 60, "batch_size": 16}})
    proc = subprocess.Popen([sys.executable, "-m", "layerwise.cli", "train", str(config), "--out", str(tmp_path / "r"),
                             "--progress", "lines"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:
        if line.startswith("epoch   2/"):
            break
    while proc.poll() is None:          # a Ctrl-C every 2 ms until the process has ended
        proc.send_signal(signal.SIGINT)
        time.sleep(0.002)
    err = proc.stderr.read()
    assert proc.wait() == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err and "layerwise: interrupted." in err
