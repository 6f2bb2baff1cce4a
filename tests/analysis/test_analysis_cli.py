"""`layerwise saliency`, `attack`, `dream` and `time` as a user runs them."""

import json

import pytest

from layerwise.cli import main

PNG = b"\x89PNG"


def test_saliency_draws_a_grid_of_images_and_gradient_maps(trained_run, tmp_path, capsys):
    assert main(["saliency", str(trained_run), "--n", "4", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "saliency.png").read_bytes()[:4] == PNG
    assert "saliency of 4 test samples" in capsys.readouterr().out


def test_attack_writes_the_accuracy_per_eps_and_its_pictures(trained_run, tmp_path, capsys):
    assert main(["attack", str(trained_run), "--eps", "0,0.1,0.3", "--n", "3", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "attack.json").read_text())
    acc = record["accuracy"]
    assert list(acc) == ["0.0", "0.1", "0.3"] and acc["0.0"] > acc["0.1"] > acc["0.3"]
    assert record["attack"] == "fgsm" and record["clip"] == [0.0, 16.0]     # in the data's units: digits' pixels
    for name in ("attack_accuracy.png", "attack_examples.png"):
        assert (tmp_path / name).read_bytes()[:4] == PNG
    assert "eps 0.1" in capsys.readouterr().out
    assert main(["attack", str(trained_run), "--eps", "0.1", "--steps", "3", "--out", str(tmp_path / "pgd")]) == 0
    pgd = json.loads((tmp_path / "pgd" / "attack.json").read_text())
    assert pgd["attack"] == "pgd" and pgd["steps"] == 3 and pgd["accuracy"]["0.1"] <= acc["0.1"] + 0.01


def test_dream_raises_every_class_score_and_draws_one_image_each(trained_run, tmp_path):
    assert main(["dream", str(trained_run), "--class", "0,5", "--steps", "20", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "dream.json").read_text())
    assert [s["target"] for s in record["scores"]] == ["class 0", "class 5"]
    assert all(s["after"] > s["before"] for s in record["scores"])
    assert (tmp_path / "dream.png").read_bytes()[:4] == PNG
    assert main(["dream", str(trained_run), "--layer", "1", "--unit", "2", "--steps", "10", "--from-test", "0",
                 "--out", str(tmp_path / "unit")]) == 0
    unit = json.loads((tmp_path / "unit" / "dream.json").read_text())
    assert unit["target"] == "layer 1" and unit["scores"][0]["after"] > unit["scores"][0]["before"]


@pytest.mark.parametrize("argv, message", [
    (["attack", "{run}", "--eps", "0,x"], "expected comma-separated numbers"),
    (["attack", "{run}", "--eps", "-0.1"], "--eps: expected comma-separated numbers >= 0"),
    (["attack", "{tmp}"], "model.safetensors: no such file"),
    (["saliency", "{run}", "--n", "0"], "--n must be >= 1"),
    (["dream", "{run}", "--class", "12"], "--class 12: the model has 10 classes (0 to 9)"),
    (["dream", "{run}", "--unit", "3"], "--unit needs --layer"),
    (["dream", "{run}", "--layer", "9"], "--layer: Layer '9' does not exist: the model has 4 modules"),
    (["dream", "{run}", "--layer", "1", "--unit", "99"], "--unit 99: layer 1 has 32 units"),
])
def test_analysis_usage_errors_exit_2_with_one_line(trained_run, tmp_path, capsys, argv, message):
    argv = [a.replace("{run}", str(trained_run)).replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_time_prints_each_layer_in_float32_and_float64(trained_run, capsys):
    assert main(["time", str(trained_run / "config.yaml"), "--batch-size", "16", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "fwd ms float32" in out and "share float64" in out
    rows = [line.split()[:2] for line in out.splitlines()]
    assert ["0", "Flatten"] in rows and ["1", "Linear"] in rows and ["3", "Linear"] in rows
    assert any(line.startswith("update") for line in out.splitlines())


def test_a_title_in_a_script_the_font_lacks_draws_without_warnings(tmp_path):
    import warnings

    from layerwise.analysis.plots import plot_learning_curves
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plot_learning_curves([{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1}], tmp_path / "lc.png", title="日本語")
    assert [str(w.message) for w in caught] == [] and (tmp_path / "lc.png").read_bytes()[:4] == b"\x89PNG"
