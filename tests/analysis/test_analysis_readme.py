"""The README's analysis example runs as written."""

import re
from pathlib import Path

import numpy as np

from layerwise.analysis.stats import COLUMNS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_analysis_example_records_layer_statistics_and_attacks(tmp_path, monkeypatch, capsys):
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "LayerStats(" in b]
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": "__readme__"}
    exec(compile(block, "README.md", "exec"), ns)
    assert (tmp_path / "layer_stats.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    assert (tmp_path / "layer_stats.png").read_bytes()[:4] == b"\x89PNG"
    assert ns["grad"].shape == (8, 1, 8, 8) and ns["stats"].rows[-1]["layer"] == "3"
    assert np.abs(ns["x_adv"] - ns["X"][:8]).max() <= 0.2 + 1e-6
    assert "act_mean" in capsys.readouterr().out
