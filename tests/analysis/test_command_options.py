"""Counts, steps, seeds and step sizes of the analysis commands out of range: one line, exit 2, nothing written."""

import json

import pytest

from layerwise.cli import main

PNG = b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["attack", "{run}", "--n", "0"], "--n must be >= 1, got 0."),
    (["attack", "{run}", "--eps", "0.1,,0.2"], "--eps: expected comma-separated numbers such as 0,0.05,0.1; got '0.1,,0.2'."),
    (["attack", "{run}", "--n", "-2"], "--n must be >= 1, got -2."),
    (["attack", "{run}", "--steps", "-1"], "--steps must be >= 0, got -1."),
    (["saliency", "{run}", "--n", "-3"], "--n must be >= 1, got -3."),
    (["dream", "{run}", "--steps", "-5"], "--steps must be >= 0, got -5."),
    (["dream", "{run}", "--jitter", "-1"], "--jitter must be >= 0, got -1."),
    (["dream", "{run}", "--seed", "-1"], "--seed must be >= 0, got -1."),
    (["dream", "{run}", "--l2", "-0.5"], "--l2 must be >= 0, got -0.5."),
    (["dream", "{run}", "--l2", "nan"], "--l2 must be >= 0, got nan."),
    (["dream", "{run}", "--lr", "0"], "--lr must be > 0, got 0.0."),
    (["dream", "{run}", "--lr", "-0.01"], "--lr must be > 0, got -0.01."),
    (["dream", "{run}", "--lr", "inf"], "--lr must be > 0, got inf."),
    (["dream", "{run}", "--from-test", "-1"], "--from-test must be in 0..359, got -1."),
    (["check", "--all", "--seed", "-1"], "--seed must be >= 0, got -1."),
    (["time", "{run}/config.yaml", "--repeats", "0"], "--repeats must be >= 1, got 0."),
    (["time", "{run}/config.yaml", "--batch-size", "-4"], "--batch-size must be >= 1, got -4."),
])
def test_an_option_out_of_range_is_one_line_exit_2_and_writes_nothing(trained_run, tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    argv = [a.replace("{run}", str(trained_run)) for a in argv]
    if argv[0] in ("attack", "saliency", "dream"):
        argv += ["--out", str(out)]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"layerwise: error: {message}\n"
    assert not out.exists()


def test_attack_with_one_image_per_row_and_steps_0_is_fgsm(trained_run, tmp_path, capsys):
    assert main(["attack", str(trained_run), "--eps", "0,0.1", "--n", "1", "--steps", "0", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "attack.json").read_text())
    assert record["attack"] == "fgsm" and record["steps"] == 1
    assert (tmp_path / "attack_examples.png").read_bytes()[:4] == PNG
    assert "FGSM on 360 test samples" in capsys.readouterr().out


def test_dream_with_0_steps_shows_its_start_unchanged(trained_run, tmp_path):
    assert main(["dream", str(trained_run), "--class", "3", "--steps", "0", "--out", str(tmp_path)]) == 0
    (score,) = json.loads((tmp_path / "dream.json").read_text())["scores"]
    assert score["target"] == "class 3" and score["before"] == score["after"]


def test_dream_jitter_on_a_run_of_flat_samples_is_refused_and_left_out_it_dreams(tmp_path, capsys):
    """--jitter 2 on samples of shape (4,) ran and did nothing (the scores were those without it), exit 0."""
    import numpy as np

    import layerwise as lw
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4))
    np.savez(tmp_path / "flat.npz", X=X, y=(X[:, 0] > 0).astype(int))
    run = tmp_path / "run"
    lw.run.fit({"data": {"dataset": "npz", "path": str(tmp_path / "flat.npz")}, "training": {"epochs": 1},
                "model": {"layers": [{"type": "linear", "units": 2}]}}, out=run, progress="off")
    capsys.readouterr()
    assert main(["dream", str(run), "--jitter", "2", "--steps", "2", "--out", str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err == ("layerwise: error: --jitter shifts images (C, H, W), but this run's samples "
                                       "have shape (4,): leave it out.\n")
    assert main(["dream", str(run), "--steps", "2", "--out", str(tmp_path / "d")]) == 0
    assert main(["dream", str(run), "--jitter", "0", "--steps", "2", "--out", str(tmp_path / "d")]) == 0


def test_dream_with_an_empty_class_list_is_refused_not_every_class(trained_run, tmp_path, capsys):
    """--class '' dreamed classes 0 to 9, as if the option had not been given."""
    assert main(["dream", str(trained_run), "--class", "", "--steps", "1", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == "layerwise: error: --class must be comma-separated integers >= 0, got ''.\n"


@pytest.fixture(scope="module")
def npz_run(tmp_path_factory):
    """A finished run on an npz file of 8x8 images, 10 classes: its data.path can be moved to other data."""
    import numpy as np

    import layerwise as lw
    folder = tmp_path_factory.mktemp("npz_run")
    rng = np.random.default_rng(0)
    np.savez(folder / "own.npz", X=rng.random((120, 1, 8, 8)), y=np.arange(120) % 10)
    lw.run.fit({"name": "npz", "seed": 0, "data": {"dataset": "npz", "path": str(folder / "own.npz")},
                "model": {"layers": [{"type": "flatten"}, {"type": "linear", "units": 10}]},
                "optimizer": {"type": "sgd", "lr": 0.1}, "training": {"epochs": 1, "batch_size": 32}},
               out=folder / "run", progress="off")
    return folder / "run"


@pytest.mark.parametrize("command", ["saliency", "attack", "dream"])
def test_the_analysis_commands_refuse_a_mixed_folder_and_other_data_as_evaluate_does(npz_run, tmp_path, capsys,
                                                                                     command):
    """They took another run's model.safetensors (analysing it, and writing into this run's folder), data of another
    shape (a traceback from the first Linear) and data of other classes (figures for a model of other outputs)."""
    import shutil

    import numpy as np
    import yaml
    mixed = tmp_path / "mixed"
    shutil.copytree(npz_run, mixed)
    config = yaml.safe_load((mixed / "config.yaml").read_text())
    (mixed / "config.yaml").write_text(yaml.safe_dump({**config, "run_id": "0" * 32}))
    capsys.readouterr()
    assert main([command, str(mixed), "--out", str(tmp_path / "o1")]) == 2
    err = capsys.readouterr().err
    assert "model.safetensors belongs to run" in err and "the folder mixes two runs" in err
    assert len(err.strip().splitlines()) == 1
    rng = np.random.default_rng(0)
    for X, y, said in ((rng.random((50, 1, 4, 4)), np.arange(50) % 10, "samples of shape (1, 4, 4), but "),
                       (rng.random((50, 1, 8, 8)), np.arange(50) % 2, "2 classes, but ")):
        np.savez(tmp_path / "other.npz", X=X, y=y)
        argv = [command, str(npz_run), "--set", f"data.path={tmp_path / 'other.npz'}", "--out", str(tmp_path / "o2")]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert said in err and "this is not the data the run was trained on" in err, err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


@pytest.mark.parametrize("command, record, picture", [("dream", "dream.json", "dream.png"),
                                                      ("attack", "attack.json", "attack_examples.png")])
def test_stopped_while_drawing_the_record_is_not_written(trained_run, tmp_path, monkeypatch, command, record, picture):
    """Ctrl-C while the pictures were drawn left dream.json next to no dream.png (or an older one)."""
    from layerwise.analysis import images
    from layerwise.analysis.commands import HANDLERS
    from layerwise.cli import _parser

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(images, "plot_image_grid", interrupted)
    (tmp_path / record).write_text("{}\n")          # an earlier run's record: it must not vouch for the new pictures
    with pytest.raises(KeyboardInterrupt):
        HANDLERS[command](_parser().parse_args([command, str(trained_run), "--out", str(tmp_path), "--steps", "1"]))
    assert not (tmp_path / record).exists() and not (tmp_path / picture).exists()
