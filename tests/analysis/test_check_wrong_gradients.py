"""`layerwise check` on user modules whose backward is wrong in shape or in several tensors at once."""

import textwrap

import pytest

from layerwise.cli import main

MODULES_PY = textwrap.dedent('''
    import numpy as np
    import layerwise as lw

    class Scale(lw.Module):
        """y = a * x, a learned per feature (correct)."""
        def __init__(self, features=8):
            super().__init__()
            self.register_param("a", np.ones(features))
        def forward(self, x):
            self._cache = x
            return self.params["a"] * x
        def backward(self, grad_y):
            self.grads["a"] += (grad_y * self._cached()).sum(axis=0)
            return grad_y * self.params["a"]

    class SummedInputGrad(Scale):
        def backward(self, grad_y):
            return super().backward(grad_y).sum(axis=0)

    class NoInputGrad(Scale):
        def backward(self, grad_y):
            super().backward(grad_y)

    class UnsummedParamGrad(Scale):
        def backward(self, grad_y):
            grad_x = super().backward(grad_y)
            self.grads["a"] = grad_y * self._cached()
            return grad_x

    class BothWrong(Scale):
        """dL/dx and dL/da both twice too large."""
        def backward(self, grad_y):
            grad_x = super().backward(grad_y)
            self.grads["a"] *= 2
            return 2 * grad_x
''')


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_layers.py"
    path.write_text(MODULES_PY)
    return path


def run_check(user_file, name, capsys):
    """Exit status, ``{(mode, tensor): row}`` of the table, and stderr of ``layerwise check FILE:name``."""
    code = main(["check", f"{user_file}:{name}"])
    out, err = capsys.readouterr()
    rows = {tuple(line.split()[1:3]): line for line in out.splitlines() if line.startswith(name + " ")}
    return code, rows, err


@pytest.mark.parametrize("name, tensor, reason", [
    ("SummedInputGrad", "input", "the gradient for input has shape (8,), expected (4, 8)"),
    ("NoInputGrad", "input", "backward returned None for input, expected an array of shape (4, 8)"),
    ("UnsummedParamGrad", "a", "the gradient for a has shape (4, 8), expected (8,)"),
])
def test_check_marks_a_gradient_of_the_wrong_shape_wrong_and_checks_the_rest(user_file, capsys, name, tensor,
                                                                              reason):
    code, rows, err = run_check(user_file, name, capsys)
    assert code == 1
    assert "Traceback" not in err and err.count("\n") == 1 and reason in err
    other = "a" if tensor == "input" else "input"
    for mode in ("train", "eval"):
        assert rows[(mode, tensor)].endswith(f"WRONG  {reason}")
        assert rows[(mode, other)].endswith("ok")


def test_check_marks_every_wrong_tensor_not_only_the_first(user_file, capsys):
    code, rows, _ = run_check(user_file, "BothWrong", capsys)
    assert code == 1
    assert set(rows) == {(mode, t) for mode in ("train", "eval") for t in ("input", "a")}
    assert all(row.endswith("WRONG") for row in rows.values())


def test_check_still_passes_a_correct_module(user_file, capsys):
    code, rows, err = run_check(user_file, "Scale", capsys)
    assert code == 0 and err == ""
    assert len(rows) == 4 and all(row.endswith("ok") for row in rows.values())


def test_gradcheck_report_names_every_failing_tensor_and_prints_a_wrong_shape():
    import numpy as np

    import layerwise as lw

    class NoneForInput(lw.Linear):
        def backward(self, grad_y, input_grad=True):
            super().backward(grad_y)
            self.grads["W"] *= 2

    with pytest.raises(lw.GradcheckError) as caught:
        lw.gradcheck(NoneForInput(3, 2, dtype=np.float64), np.ones((4, 3)))
    report = caught.value.report
    assert set(report.failures) == {"input", "W"} and report.tensors["input"] == (12, None, None)
    text = str(report)    # printing it raised a TypeError on the missing figures
    assert "1 of 3 tensors match" in text and "backward returned None for input" in text
    assert [line.split()[0] for line in text.splitlines() if line.endswith("WRONG")] == ["input", "W"]
