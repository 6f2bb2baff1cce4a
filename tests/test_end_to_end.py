"""The explicit loop (forward, loss, backward, update) of scripts/train_digits.py learns scikit-learn's digits."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_digits.py"


def test_the_explicit_loop_script_reaches_96_percent_on_digits(capsys):
    spec = importlib.util.spec_from_file_location("train_digits", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    accuracy = script.main(["--epochs", "20"])
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 20 and printed[-1].startswith("epoch  20")
    assert accuracy >= 0.96
