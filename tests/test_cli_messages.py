"""What a new user of the command line meets when something is off: one line, exit 2, the file or key named,
and a way forward (a subcommand typo, a folder for a file, a plugin that exits, an optimizer type switched
with --set, a min_lr above the rate, YAML's own readings of keys and dates)."""

import errno
import json
import sys

import optuna
import pytest
import yaml

from layerwise.cli import main
from layerwise.sweep.driver import record
from tests.test_cli import SMALL, write_config


def _error(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1, err
    return err.strip()


def test_usage_errors_are_one_line_with_the_help_to_read(tmp_path, capsys):
    config = str(write_config(tmp_path))
    assert _error(capsys, ["trian", config]) == ("layerwise: error: unknown command 'trian'. Did you mean 'train'? "
                                                "See 'layerwise --help'.")
    assert _error(capsys, ["train", config, "--bogus"]) == ("layerwise: error: unrecognized arguments: --bogus. "
                                                           "See 'layerwise train --help'.")
    assert _error(capsys, ["train", config, "--progress", "foo"]).startswith(
        "layerwise: error: argument --progress: invalid choice: 'foo'")
    assert _error(capsys, ["predict", str(tmp_path)]).endswith("required: input. See 'layerwise predict --help'.")


def test_a_plugin_that_calls_sys_exit_or_a_folder_given_as_one_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "folder.py").mkdir()
    for entry, says in (("exits.py", "plugins[0]: importing 'exits.py' failed: SystemExit: 3"),
                        ("folder.py", f"plugins[0]: {tmp_path / 'folder.py'} is a folder; give the .py file in it.")):
        assert main(["validate", str(write_config(tmp_path, {**SMALL, "plugins": [entry]}))]) == 2
        assert says in capsys.readouterr().err
    assert main(["check", f"{tmp_path}:Thing"]) == 2
    assert f"{tmp_path}: is a folder; give the .py file" in capsys.readouterr().err


def test_switching_the_optimizer_type_with_set_drops_the_files_keys_the_new_type_does_not_take(tmp_path, capsys):
    data = {**SMALL, "optimizer": {"type": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": True}}
    config = str(write_config(tmp_path, data))
    out = tmp_path / "run"
    assert main(["train", config, "--set", "optimizer.type=adam", "--set", "training.epochs=1", "--out", str(out),
                 "--progress", "off"]) == 0
    assert ("optimizer.type is adam (from --set), which does not take optimizer.momentum, optimizer.nesterov from "
            "the file: dropped.") in capsys.readouterr().err
    assert yaml.safe_load((out / "config.yaml").read_text())["optimizer"] == {
        "type": "adam", "lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-08, "weight_decay": 0.0}
    assert main(["validate", config, "--set", "optimizer.type=adam", "--set", "optimizer.momentum=0.9"]) == 2
    assert "unknown key 'optimizer.momentum'" in capsys.readouterr().err      # given on purpose: refused


def test_a_min_lr_above_the_rate_and_yamls_own_readings_are_named(tmp_path, capsys):
    assert main(["validate", str(write_config(tmp_path, {**SMALL, "schedule": {"type": "cosine", "min_lr": 1}}))]) == 2
    assert "schedule.min_lr (1) is above optimizer.lr (0.05)" in capsys.readouterr().err
    (tmp_path / "date.yaml").write_text(yaml.safe_dump(SMALL).replace("name: tiny", "name: 2024-01-01"))
    assert main(["validate", str(tmp_path / "date.yaml")]) == 2
    assert "reads it unquoted as a date: put the name in quotes" in capsys.readouterr().err
    (tmp_path / "key.yaml").write_text(yaml.safe_dump(SMALL) + "1: 2\n")
    assert main(["validate", str(tmp_path / "key.yaml")]) == 2
    assert "the key 1 is not a name (YAML read it as int; quote it)" in capsys.readouterr().err


def test_a_sweep_ranks_a_trial_by_the_epoch_whose_weights_it_keeps(tmp_path):
    class Plan:
        metric = "val_accuracy"

    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    outcome = {"state": "complete", "values": [0.5, 0.9, 0.7], "files": {},
               "summary": {"test_accuracy": 0.69, "kept_epoch": 3}}        # no early stopping: the last epoch
    record(study, Plan(), tmp_path, trial, outcome)
    assert study.trials[0].value == 0.7 and study.trials[0].user_attrs["kept_epoch"] == 3
    trial = study.ask()
    record(study, Plan(), tmp_path, trial, {**outcome, "summary": {"test_accuracy": 0.88, "kept_epoch": 2}})
    assert study.trials[1].value == 0.9        # early stopping restored epoch 2
    assert json.dumps(study.trials[1].user_attrs)


def test_a_regression_baseline_typo_suggests_a_regressor(tmp_path, capsys):
    data = {"name": "reg", "data": {"dataset": "diabetes"}, "loss": "mse",
            "model": {"layers": [{"type": "linear", "units": 1}]}, "baselines": ["logistic_regression"]}
    assert main(["validate", str(write_config(tmp_path, data))]) == 2
    err = capsys.readouterr().err
    assert "{class: sklearn.svm.SVR, params: {C: 10}}" in err and "SVC" not in err


def test_a_run_whose_files_are_folders_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    config = write_config(tmp_path, {**SMALL, "training": {"epochs": 1, "batch_size": 64}})
    assert main(["train", str(config), "--out", str(run), "--progress", "off"]) == 0
    for name, argv in (("model.safetensors", ["evaluate", str(run)]),
                       ("checkpoint.safetensors", ["train", "--resume", str(run)])):
        (run / name).unlink()
        (run / name).mkdir()
        capsys.readouterr()
        assert main(argv) == 2
        assert f"{run / name}: is a folder" in capsys.readouterr().err


def test_a_sweep_switching_the_optimizer_type_warns_once_and_names_its_param(tmp_path, recwarn):
    from layerwise.config import _DROP_WARNED, load_config
    _DROP_WARNED.clear()
    data = {**SMALL, "optimizer": {"type": "sgd", "lr": 0.01, "momentum": 0.9}}
    for lr in ("0.1", "0.2"):
        load_config(data, [f"optimizer.lr={lr}", "optimizer.type=adam"], given=[])
    texts = [str(w.message) for w in recwarn]
    assert texts == ["<config>: optimizer.type is adam (from the sweep's --param), which does not take "
                     "optimizer.momentum from the file: dropped."]
    with pytest.raises(Exception, match="unknown key 'optimizer.betas'"):   # given on purpose: refused, not dropped
        load_config({**SMALL, "optimizer": {"type": "adam", "betas": [0.9, 0.99]}},
                    ["optimizer.type=sgd", "optimizer.betas[0]=0.8"])


class FullDisk:
    """A standard output on a full disk (``> /dev/full``)."""

    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self):
        pass


def test_a_full_disk_under_the_printed_output_says_so_and_how_to_resume(tmp_path, capsys, monkeypatch):
    """'layerwise: error: No space left on device.' named no file, and no checkpoint to resume from."""
    monkeypatch.setattr(sys, "stdout", FullDisk())
    out = tmp_path / "run"
    assert main(["train", str(write_config(tmp_path, SMALL)), "--out", str(out), "--progress", "lines"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerwise: error: writing the output (no file named: stdout, if redirected): No space left "
                          "on device. The checkpoint after epoch 0 is in ")
    assert f"continue with: layerwise train --resume {out}" in err


def test_a_set_value_that_is_not_yaml_names_its_set(tmp_path, capsys):
    """'--set: line 1, column 5: invalid YAML ...' named neither the key nor the value."""
    assert main(["validate", str(write_config(tmp_path, SMALL)), "--set", "optimizer.lr=[0.1"]) == 2
    assert capsys.readouterr().err.startswith("layerwise: error: --set optimizer.lr=[0.1: line 1, column 5: invalid YAML")


def test_a_full_disk_under_compares_output_says_to_run_the_comparison_again(tmp_path, capsys, monkeypatch):
    """It said 'continue with: layerwise train --resume', which finishes the run and never compares."""
    monkeypatch.setattr(sys, "stdout", FullDisk())
    config = write_config(tmp_path, SMALL)
    assert main(["compare", str(config), "--out", str(tmp_path / "cmp"), "--progress", "lines"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device. The comparison stopped. Run the comparison again from its start with: " \
           f"layerwise compare {config} --out {tmp_path / 'cmp'} --overwrite" in err and "train --resume" not in err
