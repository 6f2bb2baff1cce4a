"""CSV inputs to predict on: a label column left in, a row with a field too many, a bad cell named where it is."""

import csv
import warnings

import numpy as np
import pytest

from layerwise.cli import main
from layerwise.data.tabular import read_csv, read_csv_inputs
from layerwise.errors import DataError, LayerwiseWarning
from tests.test_cli import SMALL, write_config

HEADER = "sl,sw,pl,pw,species"
ROWS = ["5.1,3.5,1.4,0.2,setosa", "4.9,3.0,1.4,0.2,setosa", "7.0,3.2,4.7,1.4,versicolor",
        "6.3,3.3,6.0,2.5,virginica", "5.0,3.6,1.4,0.2,setosa", "5.4,3.9,1.7,0.4,setosa"]


def write(folder, name, lines):
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def with_cell(row, column, value):
    cells = ROWS[row].split(",")
    cells[column] = value
    return ROWS[:row] + [",".join(cells)] + ROWS[row + 1:]


@pytest.mark.parametrize("label_column", ["species", -1, 4])
def test_a_file_like_the_training_one_names_its_bad_cell_not_the_label(tmp_path, label_column):
    path = write(tmp_path, "p5.csv", [HEADER, *with_cell(4, 1, "abc")])
    with pytest.raises(DataError) as caught:
        read_csv_inputs(path, 4, label_column)
    assert str(caught.value) == f"{path}: line 6, column 2 ('sw'): 'abc' is not a number."


def test_the_training_file_and_a_features_only_file_give_the_same_inputs(tmp_path):
    full = write(tmp_path, "full.csv", [HEADER, *ROWS])
    features = write(tmp_path, "features.csv", [r.rsplit(",", 1)[0] for r in ROWS])      # no header either
    first = write(tmp_path, "first.csv", ["species,sl,sw,pl,pw"] + [",".join([r.split(",")[4], *r.split(",")[:4]])
                                                                    for r in ROWS])
    X = read_csv_inputs(full, 4, "species")
    assert X.shape == (6, 4) and X[2].tolist() == [7.0, 3.2, 4.7, 1.4]
    for path, label_column in ((full, -1), (features, "species"), (features, -1), (features, None),
                               (first, "species"), (first, 0)):
        assert np.array_equal(read_csv_inputs(path, 4, label_column), X)


def test_a_pandas_index_column_is_left_out_of_the_inputs_with_a_warning(tmp_path):
    path = write(tmp_path, "p.csv", ["," + HEADER] + [f"{i},{r}" for i, r in enumerate(ROWS)])
    with pytest.warns(LayerwiseWarning, match="a pandas index"):
        X = read_csv_inputs(path, 4, "species")
    assert np.array_equal(X, read_csv_inputs(write(tmp_path, "f.csv", [HEADER, *ROWS]), 4, "species"))


@pytest.mark.parametrize("lines, n_features, label_column, message", [
    ([HEADER, *ROWS], 4, None, "has 5 columns, the model takes 4 features: drop the label column 'species'?"),
    ([HEADER, *ROWS], 4, "label", "has 5 columns, the model takes 4 features: drop the label column 'species'?"),
    (ROWS, 4, None, "has 5 columns, the model takes 4 features: drop the label column (column 5)?"),
    ([HEADER, *with_cell(0, 4, "0")], 4, None, "has 5 columns, the model takes 4 features: drop the label column?"),
    ([HEADER, *ROWS], 3, "species", "has 5 columns, the model takes 3 features."),
    ([HEADER, *ROWS], 6, "species", "has 5 columns, the model takes 6 features."),
    ([HEADER, *ROWS[:5], ROWS[5] + ",9"], 4, "species", "line 7 has 6 columns, expected 5 like the header."),
    ([HEADER, *ROWS[:2], "4.7,3.2,1.3", *ROWS[3:]], 4, -1, "line 4 has 3 columns, expected 5 like the header."),
    ([*ROWS[:5], ROWS[5] + ",9"], 4, None, "line 6 has 6 columns, expected 5 like the first row."),
])
def test_a_file_of_another_width_says_what_the_model_takes(tmp_path, lines, n_features, label_column, message):
    path = write(tmp_path, "p.csv", lines)
    with pytest.raises(DataError) as caught:
        read_csv_inputs(path, n_features, label_column)
    assert str(caught.value) == f"{path}: {message}"


def test_read_csv_names_a_row_of_another_width_before_any_cell(tmp_path):
    path = write(tmp_path, "p6.csv", [HEADER, *ROWS[:5], ROWS[5] + ",9"])
    for label_column in (None, -1, "species"):
        with pytest.raises(DataError) as caught:
            read_csv(path, label_column)
        assert str(caught.value) == f"{path}: line 7 has 6 columns, expected 5 like the header."


def test_read_csv_without_a_label_column_names_a_column_of_text_as_one(tmp_path):
    path = write(tmp_path, "p5.csv", [HEADER, *with_cell(4, 1, "abc")])
    with pytest.raises(DataError) as caught:
        read_csv(path, None)
    assert str(caught.value) == (f"{path}: column 5 ('species') holds text such as 'setosa', not numbers: drop the "
                                 "label column? Without one, every column is a feature.")
    # a label column is still read as one, and a file of numbers only as features
    assert read_csv(write(tmp_path, "ok.csv", [HEADER, *ROWS]), "species")[0].shape == (6, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_csv(write(tmp_path, "n.csv", [r.rsplit(",", 1)[0] for r in ROWS]), None)[0].shape == (6, 4)


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """A finished run trained on an iris CSV file whose last column, 'species', is the label."""
    from sklearn.datasets import load_iris
    folder = tmp_path_factory.mktemp("iris")
    iris, names = load_iris(), np.array(["setosa", "versicolor", "virginica"])
    with open(folder / "iris.csv", "w", newline="") as f:
        csv.writer(f).writerows([HEADER.split(","), *([*x, names[y]] for x, y in zip(iris.data, iris.target))])
    config = {**SMALL, "data": {"dataset": "csv", "path": "iris.csv"},
              "model": {"layers": [{"type": "linear", "units": 8}, {"type": "tanh"}, {"type": "linear", "units": 3}]},
              "training": {"epochs": 2, "batch_size": 16}}
    assert main(["train", str(write_config(folder, config)), "--out", str(folder / "run"), "--progress", "off"]) == 0
    return folder / "run"


def predict_error(run, path, capsys):
    capsys.readouterr()
    assert main(["predict", str(run), str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"layerwise: error: {path}: ")
    return err[len(f"layerwise: error: {path}: "):].strip()


def test_predict_names_a_row_with_a_field_too_many(csv_run, tmp_path, capsys):
    path = write(tmp_path, "p6.csv", [HEADER, *ROWS[:5], ROWS[5] + ",9"])
    assert predict_error(csv_run, path, capsys) == "line 7 has 6 columns, expected 5 like the header."


def test_predict_does_not_blame_the_label_column_for_a_bad_feature(csv_run, tmp_path, capsys):
    path = write(tmp_path, "p5.csv", [HEADER, *with_cell(4, 1, "abc")])
    err = predict_error(csv_run, path, capsys)
    assert "'setosa' is not a number" not in err and "line 2" not in err
    # the bad cell itself once saved.read_inputs reads through read_csv_inputs; until then, the label column
    assert err == "line 6, column 2 ('sw'): 'abc' is not a number." or err.startswith("column 5 ('species') holds text")
