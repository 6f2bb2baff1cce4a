"""Every shipped config validates, and the CNN config trains from YAML (one short run)."""

import shutil
from pathlib import Path

import pytest

from layerwise.cli import main

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
NEEDS_FILES = ("mnist", "fashion_mnist", "glorot_bengio")     # IDX files not in the test machine's cache


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(path, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAYERWISE_DATA", str(tmp_path / "cache"))   # never the real cache
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    if any(path.name.startswith(n) for n in NEEDS_FILES):
        # the model is checked against the dataset's fixed shape, then the missing files are reported
        assert code == 2 and "the model is ok" in out.out and "layerwise: error:" in out.err
    else:
        assert code == 0 and ": ok." in out.out, out.err


def test_the_digits_cnn_config_trains_and_evaluates(tmp_path, capsys):
    shutil.copy(CONFIGS[0].parent / "digits_cnn.yaml", tmp_path)
    out = tmp_path / "run"
    assert main(["train", str(tmp_path / "digits_cnn.yaml"), "--out", str(out), "--progress", "off",
                 "--set", "training.epochs=2"]) == 0
    assert main(["evaluate", str(out)]) == 0
    assert "reproduced" in capsys.readouterr().out
