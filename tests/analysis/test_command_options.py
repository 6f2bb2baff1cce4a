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
