"""`layerwise check`: gradient checks of user modules from a file, as a user runs them."""

import textwrap

import numpy as np
import pytest

from layerwise.analysis.check import check_all, check_class, load_class
from layerwise.cli import main
from layerwise.modules import MODULES

MODULES_PY = textwrap.dedent('''
    import numpy as np
    import layerwise as lw

    class ScaledTanh(lw.Module):
        """y = a * tanh(x), a learned per feature."""
        def __init__(self, features):
            super().__init__()
            self.register_param("a", np.ones(features))
        def forward(self, x):
            self._cache = np.tanh(x)
            return self.params["a"] * self._cache
        def backward(self, grad_y):
            t = self._cached()
            self.grads["a"] += (grad_y * t).sum(axis=0)
            return grad_y * self.params["a"] * (1 - t * t)

    class BadLinear(lw.Linear):
        """dL/dW twice too large."""
        def backward(self, grad_y, input_grad=True):
            grad_x = super().backward(grad_y, input_grad)
            self.grads["W"] *= 2
            return grad_x

    class WrongInEval(lw.Module):
        """Correct in training mode; in eval mode backward forgets the factor 3."""
        def forward(self, x):
            return 3 * x
        def backward(self, grad_y):
            return 3 * grad_y if self.training else grad_y

    class Picky(lw.Module):
        def forward(self, x):
            self._expect_shape(x, (None, 5))
            return x
        def backward(self, grad_y):
            return grad_y

    class NotAModule:
        pass
''')


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_layers.py"
    path.write_text(MODULES_PY)
    return path


def test_check_passes_a_correct_module_and_prints_every_tensor(user_file, capsys):
    assert main(["check", f"{user_file}:ScaledTanh", "--args", '{"features": 8}']) == 0
    out = capsys.readouterr().out
    for mode in ("train", "eval"):
        assert any(line.split()[:3] == ["ScaledTanh", mode, "input"] for line in out.splitlines())
        assert any(line.split()[:3] == ["ScaledTanh", mode, "a"] for line in out.splitlines())
    assert "max abs err" in out and "all gradients match" in out and "WRONG" not in out


def test_check_fails_a_wrong_parameter_gradient_naming_it(user_file, capsys):
    code = main(["check", f"{user_file}:BadLinear", "--args", '{"in_features": 8, "out_features": 3}'])
    captured = capsys.readouterr()
    assert code == 1
    rows = {tuple(line.split()[1:3]): line for line in captured.out.splitlines() if line.startswith("BadLinear")}
    assert rows[("train", "W")].endswith("WRONG") and rows[("train", "b")].endswith("ok")
    assert rows[("train", "input")].endswith("ok")
    assert "check in train mode: gradcheck of BadLinear: gradient of W is wrong at index" in captured.err


def test_check_finds_a_gradient_that_is_wrong_only_in_eval_mode(user_file, capsys):
    assert main(["check", f"{user_file}:WrongInEval"]) == 1
    captured = capsys.readouterr()
    assert "check in eval mode: gradcheck of WrongInEval: gradient of input is wrong" in captured.err
    result = check_class(load_class(f"{user_file}:WrongInEval"))
    assert [ok for mode, _, _, _, _, ok in result.rows] == [True, False]


@pytest.mark.parametrize("argv, message", [
    (["check", "nowhere.py:X"], "nowhere.py: no such file."),
    (["check", "{file}:Missing"], "no class 'Missing'. It defines: BadLinear, Picky, ScaledTanh, WrongInEval."),
    (["check", "{file}:NotAModule"], "NotAModule is not a subclass of layerwise.Module."),
    (["check", "{file}"], "check expects FILE.py:ClassName"),
    (["check", "{file}:Picky"], "Picky.forward fails in train mode on an input of shape (4, 8)"),
    (["check", "{file}:ScaledTanh"], "ScaledTanh() failed: TypeError"),
    (["check", "{file}:ScaledTanh", "--args", "[8]"], "--args must be a JSON object"),
    (["check", "{file}:ScaledTanh", "--args", "{features: 8}"], "--args must be a JSON object"),
    (["check", "{file}:Picky", "--input-shape", "4,x"], "--input-shape must be comma-separated integers >= 1"),
    (["check", "{file}:Picky", "--input-shape", ""], "--input-shape must be comma-separated integers >= 1, got ''"),
    (["check"], "check takes FILE.py:ClassName or --all"),
])
def test_check_usage_errors_exit_2_with_one_line(user_file, capsys, argv, message):
    argv = [a.replace("{file}", str(user_file)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_check_takes_an_input_shape(user_file, capsys):
    assert main(["check", f"{user_file}:Picky", "--input-shape", "3,5"]) == 0


def test_check_all_covers_every_registered_module():
    results = check_all()
    assert set(results) == set(MODULES)
    assert all(r.ok and r.rows for r in results.values())
    modes = {mode for r in results.values() for mode, *_ in r.rows}
    assert modes == {"train", "eval"}
    assert all(np.isfinite(abs_err) for r in results.values() for _, _, _, abs_err, _, _ in r.rows)
