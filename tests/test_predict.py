"""A finished run used on its own: lw.load_run and `layerwise predict` from raw inputs."""

import csv
import io
import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import layerwise as lw
from layerwise import run
from layerwise.checkpoint import load_model_state
from layerwise.cli import main
from layerwise.config import load_config
from layerwise.data import write_idx
from layerwise.errors import DataError
from tests.test_cli import SMALL, write_config


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A finished tiny digits run, and the raw (unnormalized) test split it was evaluated on."""
    folder = tmp_path_factory.mktemp("digits")
    out = folder / "run"
    assert main(["train", str(write_config(folder)), "--out", str(out), "--progress", "off"]) == 0
    raw = run.load_data(load_config(out / "config.yaml", ["data.normalize=none"]))
    return out, raw


def evaluated_labels(run_dir):
    """The class codes behind `layerwise evaluate`, computed as it does."""
    exp = run.prepare(run_dir / "config.yaml")
    load_model_state(exp.model, run_dir / "model.safetensors")
    return exp, exp.trainer.loss.labels(exp.trainer.predict(exp.data.X_test))


def rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_load_run_predicts_from_raw_inputs_exactly_as_evaluate(digits_run):
    out, raw = digits_run
    exp, codes = evaluated_labels(out)
    saved = lw.load_run(out)
    assert not saved.model.training and saved.input_shape == (1, 8, 8) and saved.normalizer.how == "scale"
    assert list(saved.classes) == list(range(10))
    assert np.array_equal(saved.transform(raw.X_test), exp.data.X_test)    # bit for bit
    predicted = saved.predict(raw.X_test)
    assert np.array_equal(predicted, exp.data.classes[codes])
    summary = json.loads((out / "summary.json").read_text())
    assert np.mean(predicted == raw.classes[raw.y_test]) == summary["test_accuracy"]
    proba = saved.predict_proba(raw.X_test)
    assert proba.shape == (len(raw.X_test), 10) and np.allclose(proba.sum(axis=1), 1, atol=1e-6)
    assert np.array_equal(saved.classes[proba.argmax(axis=1)], predicted)
    # it expects raw inputs: already normalized ones are scaled a second time and predicted differently
    assert not np.array_equal(saved.predict(exp.data.X_test), predicted)
    # flat rows, as in a CSV file, are samples too
    assert np.array_equal(saved.predict(raw.X_test.reshape(len(raw.X_test), -1)), predicted)


def test_standardized_csv_run_predicts_string_classes_with_or_without_the_label_column(tmp_path, capsys):
    from sklearn.datasets import load_iris
    iris = load_iris()
    names = np.array(["setosa", "versicolor", "virginica"])
    data = tmp_path / "iris.csv"
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["species", *iris.feature_names])
        w.writerows([[names[y], *x] for x, y in zip(iris.data, iris.target)])
    config = {**SMALL, "data": {"dataset": "csv", "path": "iris.csv", "label_column": "species",
                                "normalize": "standardize"},
              "model": {"layers": [{"type": "linear", "units": 8}, {"type": "tanh"}, {"type": "linear", "units": 3}]},
              "training": {"epochs": 3, "batch_size": 16, "dtype": "float64"}}
    out = tmp_path / "run"
    assert main(["train", str(write_config(tmp_path, config)), "--out", str(out), "--progress", "off"]) == 0
    exp, codes = evaluated_labels(out)
    raw = run.load_data(load_config(out / "config.yaml", ["data.normalize=none"]))
    saved = lw.load_run(out)
    assert saved.normalizer.how == "standardize" and saved.normalizer.shift.dtype == np.float64
    assert np.array_equal(saved.predict(raw.X_test), exp.data.classes[codes])
    assert set(saved.predict(raw.X_test)) <= set(names)

    capsys.readouterr()
    assert main(["predict", str(out), str(data)]) == 0          # the training file itself, labels and all
    with_label = rows(capsys.readouterr().out)
    assert with_label[0] == ["predicted", "p_setosa", "p_versicolor", "p_virginica"] and len(with_label) == 151
    features_only = tmp_path / "features.csv"
    np.savetxt(features_only, iris.data, delimiter=",")
    assert main(["predict", str(out), str(features_only)]) == 0
    assert rows(capsys.readouterr().out) == with_label
    # a header names the columns: the same names in the training order are read, others refused
    assert lw.load_run(out).feature_names == list(iris.feature_names)
    named = tmp_path / "named.csv"
    for order, code in ((iris.feature_names, 0), ([*iris.feature_names[:2], *iris.feature_names[:1:-1]], 2)):
        columns = [iris.feature_names.index(n) for n in order]
        with open(named, "w", newline="") as f:
            csv.writer(f).writerows([list(order), *iris.data[:, columns].tolist()])
        assert main(["predict", str(out), str(named)]) == code
        captured = capsys.readouterr()
        if code == 0:
            assert rows(captured.out) == with_label
        else:       # petal length and width swapped: same count of columns, every prediction wrong before
            assert (f"named.csv: column 3 is 'petal width (cm)' where the run's training file had 'petal length (cm)' "
                    f"(2 of 4 feature columns differ); give the columns in the training order: "
                    f"{', '.join(iris.feature_names)}.") in captured.err
    semicolons = tmp_path / "semicolons.csv"
    np.savetxt(semicolons, iris.data, delimiter=";")
    assert main(["predict", str(out), str(semicolons)]) == 2      # predict has no --set: say what it can do
    err = capsys.readouterr().err
    assert 'the run reads its CSV split at "," (its data.delimiter): give predict a file split that way' in err
    assert "set data.delimiter" not in err


def test_predict_command_reads_npz_csv_and_idx_and_writes_one_row_per_sample(digits_run, tmp_path, capsys):
    out, raw = digits_run
    expected = lw.load_run(out).predict(raw.X_test)
    npz, table, idx = tmp_path / "test.npz", tmp_path / "test.csv", tmp_path / "t10k-images-idx3-ubyte.gz"
    np.savez(npz, X=raw.X_test)
    np.savetxt(table, raw.X_test.reshape(len(raw.X_test), -1), fmt="%d", delimiter=",")
    write_idx(idx, raw.X_test[:, 0].astype(np.uint8))         # (N, 8, 8) images, as MNIST's files hold them
    capsys.readouterr()
    outputs = []
    for source in (npz, table, idx):
        assert main(["predict", str(out), str(source)]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2]
    table_rows = rows(outputs[0])
    assert table_rows[0] == ["predicted"] + [f"p_{k}" for k in range(10)]
    assert [int(r[0]) for r in table_rows[1:]] == expected.tolist()
    assert all(abs(sum(map(float, r[1:])) - 1) < 1e-5 for r in table_rows[1:])

    target = tmp_path / "predictions.csv"
    assert main(["predict", str(out), str(npz), "--out", str(target)]) == 0
    assert f"{len(expected)} predictions -> {target}" in capsys.readouterr().out
    assert target.read_text() == outputs[0]


@pytest.mark.parametrize("shape, got", [((5, 63), "(63,) (63 features)"), ((5, 1, 8, 7), "(1, 8, 7) (56 features)"),
                                        ((5, 65), "(65,) (65 features)")])
def test_a_wrong_input_shape_is_one_line_naming_both_shapes(digits_run, tmp_path, capsys, shape, got):
    out, _ = digits_run
    np.savez(tmp_path / "bad.npz", X=np.zeros(shape))
    capsys.readouterr()
    assert main(["predict", str(out), str(tmp_path / "bad.npz")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("layerwise: error: ")
    assert f"samples of shape {got}" in err and "takes samples of shape (1, 8, 8) (64 features)" in err
    assert ("Leave out the label column" in err) == (shape == (5, 65))


def test_unknown_or_missing_input_is_one_line(digits_run, tmp_path, capsys):
    out, _ = digits_run
    (tmp_path / "x.txt").write_text("1,2\n")
    capsys.readouterr()
    assert main(["predict", str(out), str(tmp_path / "x.txt")]) == 2
    assert "unknown input format" in capsys.readouterr().err
    np.savez(tmp_path / "no_x.npz", images=np.zeros((2, 64)))
    assert main(["predict", str(out), str(tmp_path / "no_x.npz")]) == 2
    assert "no array 'X' (found images)" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), str(tmp_path / "no_x.npz")]) == 2
    assert "model.safetensors: no such file" in capsys.readouterr().err


def test_a_missing_run_is_named_without_a_resume_hint_for_its_parent(digits_run, tmp_path, capsys):
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 64)))
    for command in (["predict"], ["attack"], ["saliency"]):
        args = command + [str(tmp_path / "nope")] + ([str(tmp_path / "x.npz")] if command == ["predict"] else [])
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path / 'nope'}: no such run directory" in err and "--resume" not in err, err


def test_weights_with_nan_are_refused_on_predict_and_on_resume(digits_run, tmp_path, capsys):
    out, _ = digits_run
    from safetensors import safe_open
    with safe_open(str(out / "model.safetensors"), "np") as f:
        meta = f.metadata()
    arrays = load_file(str(out / "model.safetensors"))
    arrays["1.W"] = arrays["1.W"].copy()
    arrays["1.W"][3, 4] = np.nan
    bad = tmp_path / "bad"
    bad.mkdir()
    save_file(arrays, str(bad / "model.safetensors"), metadata=meta)
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 64)))
    capsys.readouterr()
    assert main(["predict", str(bad), str(tmp_path / "x.npz")]) == 2
    assert "'1.W' holds NaN or infinite values" in capsys.readouterr().err

    resumable = tmp_path / "resumable"
    assert main(["train", str(write_config(tmp_path)), "--out", str(resumable), "--progress", "off",
                 "--set", "training.epochs=1"]) == 0
    ckpt = resumable / "checkpoint.safetensors"
    with safe_open(str(ckpt), "np") as f:
        meta = f.metadata()
    arrays = load_file(str(ckpt))
    arrays["model.1.b"] = np.full_like(arrays["model.1.b"], np.inf)
    save_file(arrays, str(ckpt), metadata=meta)
    capsys.readouterr()
    assert main(["train", "--resume", str(resumable), "--set", "training.epochs=2", "--progress", "off"]) == 2
    err = capsys.readouterr().err
    assert "'model.1.b' holds NaN or infinite values" in err and "lr" not in err


def test_a_model_saved_without_normalization_statistics_is_a_clear_error(digits_run, tmp_path, capsys):
    out, _ = digits_run
    from safetensors import safe_open
    with safe_open(str(out / "model.safetensors"), "np") as f:
        meta = {k: v for k, v in f.metadata().items() if k not in ("normalize", "run_id")}
    weights = {k: v for k, v in load_file(str(out / "model.safetensors")).items() if not k.startswith("input:")}
    old = tmp_path / "old"
    old.mkdir()
    save_file(weights, str(old / "model.safetensors"), metadata=meta)
    with pytest.raises(DataError, match="holds no normalization statistics"):
        lw.load_run(old)
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 64)))
    capsys.readouterr()
    assert main(["predict", str(old), str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "train the run again" in err


def test_help_lists_predict(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "predict Predict with a finished run's model from raw inputs" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.update(epoch="2"), "the trainer state's 'epoch' is '2', expected an int >= 0"),
    (lambda t: t.update(history=None), "the trainer state's 'history' is None, expected a list of rows"),
    (lambda t: t.clear(), "the trainer state has no 'epoch'"),
    # the summary and the plots read the history after training: a damaged one was found only then, with
    # the run's model.safetensors already deleted
    (lambda t: [r.pop("epoch") for r in t["history"]], "the trainer state's history: row 0 has no 'epoch'"),
    (lambda t: t["history"][0].update(val_accuracy="x"),
     "the trainer state's history: row 0 (epoch 1) has val_accuracy 'x', expected a number"),
    (lambda t: t.update(history=[{"epoch": 1}, {"epoch": 1}]),
     "the trainer state's history: row 1 has epoch 1, expected an int after 1"),
])
def test_a_checkpoint_with_edited_metadata_is_one_line_on_resume(tmp_path, capsys, edit, message):
    import json
    from layerwise.checkpoint import load_arrays, save_arrays
    folder = tmp_path / "r"
    assert main(["train", str(write_config(tmp_path)), "--out", str(folder), "--progress", "off",
                 "--set", "training.epochs=1"]) == 0
    arrays, meta = load_arrays(folder / "checkpoint.safetensors")
    edit(meta["trainer"])
    save_arrays(folder / "checkpoint.safetensors", arrays, meta)
    capsys.readouterr()
    assert main(["train", "--resume", str(folder), "--set", "training.epochs=2", "--progress", "off"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checkpoint is damaged" in err and message in err, err
    assert json.loads((folder / "summary.json").read_text())["epochs_run"] == 1
    assert (folder / "model.safetensors").is_file()


def test_a_model_file_whose_class_list_was_cut_is_refused(digits_run, tmp_path, capsys):
    from layerwise.checkpoint import load_arrays, save_arrays
    out, _ = digits_run
    arrays, meta = load_arrays(out / "model.safetensors")
    meta["classes"] = meta["classes"][:5]
    (tmp_path / "cut").mkdir()
    save_arrays(tmp_path / "cut" / "model.safetensors", arrays, meta)
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 64)))
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "cut"), str(tmp_path / "x.npz")]) == 2
    assert "names 5 classes, but its model gives 10 outputs" in capsys.readouterr().err


@pytest.mark.parametrize("units", [1, 2])
def test_a_classification_whose_labels_hold_one_class_is_refused(tmp_path, capsys, units):
    """It used to train (to accuracy 1.0) after advice to set units: 1; the data is what is wrong."""
    import yaml
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "one.npz", X=rng.normal(size=(40, 3)), y=np.zeros(40, int))
    (tmp_path / "one.yaml").write_text(yaml.safe_dump({
        "data": {"dataset": "npz", "path": "one.npz"}, "model": {"layers": [{"type": "linear", "units": units}]},
        "training": {"epochs": 1, "batch_size": 8}}))
    capsys.readouterr()
    assert main(["train", str(tmp_path / "one.yaml"), "--out", str(tmp_path / "r"), "--progress", "off"]) == 2
    assert "data: the labels hold 1 class; a classifier needs two or more" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_an_output_file_in_a_folder_that_does_not_exist_is_refused_and_nothing_is_made(digits_run, tmp_path,
                                                                                       capsys):
    run, _ = digits_run
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 64)))
    target = tmp_path / "typo" / "dir" / "p.csv"
    assert main(["predict", str(run), str(tmp_path / "x.npz"), "--out", str(target)]) == 2
    assert f"--out {target}: the folder {target.parent} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()
    (tmp_path / "afile").write_text("x")
    assert main(["predict", str(run), str(tmp_path / "x.npz"), "--out", str(tmp_path / "afile" / "p.csv")]) == 2
    assert f"{tmp_path / 'afile'} is a file, not a folder." in capsys.readouterr().err
    assert main(["predict", str(run), str(tmp_path / "x.npz"), "--out", str(tmp_path / "p.csv")]) == 0
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 3


def test_predictions_never_replace_their_inputs_or_the_runs_files(digits_run, tmp_path, capsys):
    run, _ = digits_run
    np.savetxt(tmp_path / "x.csv", np.zeros((2, 64)), delimiter=",")
    before = {name: (run / name).read_bytes() for name in ("model.safetensors", "config.yaml")}
    for out, says in ((tmp_path / "x.csv", "would replace the inputs"),
                      (run / "model.safetensors", "would replace a file of the run"),
                      (run / "config.yaml", "would replace a file of the run")):
        assert main(["predict", str(run), str(tmp_path / "x.csv"), "--out", str(out)]) == 2
        assert f"--out {out} {says}; write the predictions to another file." in capsys.readouterr().err
    assert {name: (run / name).read_bytes() for name in before} == before
    assert (tmp_path / "x.csv").read_text().count("\n") == 2


def test_predict_reads_npz_inputs_with_the_same_checks_as_training(digits_run, tmp_path, capsys):
    from tests.data.test_datasets import damaged_npz_files
    run, _ = digits_run
    for name, says in damaged_npz_files(tmp_path).items():
        assert main(["predict", str(run), str(tmp_path / f"{name}.npz")]) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err and err.count("not a readable") <= 1, err
    np.savez(tmp_path / "keys.npz", data=np.zeros((2, 64)))
    assert main(["predict", str(run), str(tmp_path / "keys.npz")]) == 2
    assert "keys.npz: no array 'X' (found data); predict reads the samples from X." in capsys.readouterr().err


def test_idx_inputs_of_another_type_than_training_reads_are_refused(digits_run, tmp_path, capsys):
    run, raw = digits_run
    idx = tmp_path / "t10k-images-idx3-ubyte.gz"
    write_idx(idx, raw.X_test[:4, 0].astype(np.int8))        # magic 0x09: signed bytes
    assert main(["predict", str(run), str(idx)]) == 2
    assert "expected uint8 images, as layerwise trains on IDX files, got int8." in capsys.readouterr().err


def _edited_model(digits_run, tmp_path, edit):
    """A copy of the digits run's model.safetensors with ``edit(arrays, meta)`` applied, and an input file."""
    from layerwise.checkpoint import load_arrays, save_arrays
    out, _ = digits_run
    arrays, meta = load_arrays(out / "model.safetensors")
    edit(arrays, meta)
    folder = tmp_path / "edited"
    shutil.copytree(out, folder)
    save_arrays(folder / "model.safetensors", arrays, meta)
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 64)))
    return folder


@pytest.mark.parametrize("edit, message", [
    (lambda a, m: m.update(input_shape=[1, "a"]), "its input_shape [1, 'a'] is not a list of sizes"),
    (lambda a, m: a.update({"input:scale": np.ones(3, np.float32)}),
     "the normalization's scale (float32, shape (3,)) is not what layerwise writes for samples of shape (1, 8, 8)"),
    (lambda a, m: a.update({"input:scale": np.zeros((), np.float32)}), "the normalization's scale (float32, shape ())"),
    (lambda a, m: a.update({"1.W": a["1.W"].astype(np.int32)}), "its array '1.W' holds int32 where layerwise writes "
                                                                 "floats"),
])
def test_a_model_file_with_edited_arrays_or_metadata_is_one_line(digits_run, tmp_path, capsys, edit, message):
    """Each was a traceback, NaN probabilities (a zero scale) or, for integer weights, predictions from weights
    cast without a word."""
    folder = _edited_model(digits_run, tmp_path, edit)
    capsys.readouterr()
    commands = [["predict", str(folder), str(tmp_path / "x.npz")]]
    if "1.W" in message:
        commands.append(["evaluate", str(folder)])
    for argv in commands:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "the file was changed after it was written" in err, err


def test_a_model_file_with_a_tensor_numpy_cannot_hold_is_one_line(digits_run, tmp_path, capsys):
    """A valid safetensors file can hold bfloat16, which safetensors.numpy cannot load (a KeyError)."""
    import struct
    folder = _edited_model(digits_run, tmp_path, lambda a, m: None)
    header = json.dumps({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(4))
    capsys.readouterr()
    assert main(["predict", str(folder), str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable safetensors checkpoint (a tensor of dtype BF16" in err, err
