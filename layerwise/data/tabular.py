"""Readers for user data: ``.npz`` archives and numeric CSV files with a label column.

Each reader returns ``(X, y, X_test, y_test)``; ``X_test`` and ``y_test`` are None when the file has
no official test split.
"""

import csv
import json
import math
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .._finite import first_nonfinite_row
from ..errors import DataError, LayerwiseWarning

DELIMITERS = (",", ";", "\t", "|")


def _existing_file(path, kind):
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; data.path must be the {kind} file itself.")
    if not path.is_file():
        raise DataError(f"{path}: no such file.")
    return path


def _check_finite(path, name, X):
    row = first_nonfinite_row(X)
    if row is not None:
        raise DataError(f"{path}: {name} holds NaN or infinite values (first in sample {row}).")


def check_real(path, name, X):
    """A DataError unless ``X`` holds real numbers (or bools): not text, objects or complex numbers."""
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool) or np.iscomplexobj(X):
        raise DataError(f"{path}: {name} must hold real numbers, got dtype {X.dtype}.")


def npz_arrays(path):
    """Every array of the ``.npz`` at ``path``, read without pickle; a DataError saying why it cannot be read."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except zipfile.BadZipFile:
        raise DataError(f"{path}: not a readable .npz file (a damaged or truncated zip archive).") from None
    except (ValueError, OSError, EOFError) as e:
        # NumPy takes a file that is neither a zip nor an .npy for a pickle, and says to unpickle it: never
        why = "it is not a zip archive of .npy arrays" if "pickle" in str(e) else str(e)
        raise DataError(f"{path}: not a readable .npz file ({why}).") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):      # a plain array: an .npy file under another name
        raise DataError(f"{path}: holds a single array (an .npy file); expected an .npz archive with X and y.")
    with loaded:
        arrays = {}
        for k in loaded.files:
            try:
                arrays[k] = loaded[k]
            except ValueError as e:
                if "allow_pickle" in str(e):
                    raise DataError(f"{path}: array {k!r} holds Python objects, which only pickle can read (never "
                                    "done here); save numbers or strings (np.asarray(..., dtype=float)).") from None
                raise DataError(f"{path}: array {k!r} cannot be read ({e}).") from None
            except (OSError, EOFError, zipfile.BadZipFile) as e:
                raise DataError(f"{path}: array {k!r} cannot be read (the archive is damaged: {e}).") from None
    return arrays


def read_npz(path):
    """Arrays ``X``, ``y`` and optionally ``X_test``, ``y_test`` from an ``.npz`` file.

    ``X`` keeps its shape after the batch axis; ``y`` is one label per sample (ints or strings), or
    real-valued targets, (N,) or (N, targets), for a regression.
    """
    path = _existing_file(path, ".npz")
    arrays = npz_arrays(path)
    missing = [k for k in ("X", "y") if k not in arrays]
    if missing:
        raise DataError(f"{path}: no array {' or '.join(repr(k) for k in missing)} (found "
                        f"{', '.join(arrays) or 'none'}); expected X and y, optionally X_test and y_test.")
    if ("X_test" in arrays) != ("y_test" in arrays):
        have, lack = ("X_test", "y_test") if "X_test" in arrays else ("y_test", "X_test")
        raise DataError(f"{path}: has {have} but no {lack}; the test arrays must come together.")
    for xs, ys in (("X", "y"), ("X_test", "y_test")):
        if xs not in arrays:
            continue
        X, y = arrays[xs], arrays[ys]
        if X.ndim < 2:
            raise DataError(f"{path}: {xs} has shape {X.shape}; expected (N, features...). Reshape a single "
                            "feature to (N, 1).")
        check_real(path, xs, X)
        if y.ndim not in (1, 2) or len(X) != len(y):
            raise DataError(f"{path}: {xs} has {len(X)} rows but {ys} has shape {y.shape}; expected "
                            f"({len(X)},), one label per row (or ({len(X)}, targets) for a regression).")
        _check_finite(path, xs, X)
    if "X_test" in arrays and arrays["X_test"].shape[1:] != arrays["X"].shape[1:]:
        raise DataError(f"{path}: X_test samples have shape {arrays['X_test'].shape[1:]} but X samples have "
                        f"{arrays['X'].shape[1:]}.")
    return arrays["X"], arrays["y"], arrays.get("X_test"), arrays.get("y_test")


def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _has_header(rows):
    """A first row is a header when some column has text there and a number below it. An empty cell is
    not text (a data row with a missing value stays data, and is reported as such)."""
    first = rows[0]
    if len(rows) == 1:
        return not any(_is_number(c) for c in first)
    return any(a.strip() and not _is_number(a) and _is_number(b) for a, b in zip(first, rows[1]))


def _label_index(path, label_column, header, width):
    if isinstance(label_column, str):
        if header is None:
            raise DataError(f"{path}: label_column {label_column!r} is a column name, but the file has no "
                            "header row; give the column's index instead.")
        if header.count(label_column) > 1:
            cols = [i for i, h in enumerate(header) if h == label_column]
            raise DataError(f"{path}: data.label_column {label_column!r} names two columns of the header (indices "
                            f"{cols[0]} and {cols[1]}); rename one, or give data.label_column as the index of the one.")
        if label_column not in header:
            raise DataError(f"{path}: no column named {label_column!r}; the columns are "
                            f"{', '.join(repr(h) for h in header)}.")
        return header.index(label_column)
    if isinstance(label_column, bool) or not isinstance(label_column, (int, np.integer)):
        raise DataError(f"label_column must be a column index (int) or name (str), got {label_column!r}.")
    if not -width <= label_column < width:
        raise DataError(f"{path}: label_column {label_column} is out of range for {width} columns.")
    return int(label_column) % width


def _other_delimiter(rows, delimiter):
    """The delimiter that splits the first lines into equal numbers of fields, when ``delimiter`` did not."""
    sample = [row[0] for row in rows[:20]]
    for cand in DELIMITERS:
        counts = {line.count(cand) for line in sample}
        if cand != delimiter and len(counts) == 1 and counts.pop() > 0:
            return cand
    return None


def _index_column(header, body, label):
    """0 when the first column is a pandas index: no name, distinct whole numbers >= 0; else None."""
    if header is None or header[0] != "" or label == 0 or len(header) < 2:
        return None
    values = [row[0] for row in body]
    if not all(v.isdigit() for v in values) or len(set(map(int, values))) != len(values):
        return None
    return 0


def _read_table(path, delimiter, fix=None):
    """The non-blank rows of a CSV file, stripped: ``(header or None, body, lines, width)``.

    ``lines`` are the file's line numbers of the ``body`` rows. Every row must have ``width`` fields,
    as many as the first; this is checked before any cell is read, so a short or long row is named as
    such and not as the bad cell it shifts.
    """
    path = _existing_file(path, ".csv")
    rows, lines = [], []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter)
            for row in reader:
                if any(c.strip() for c in row):
                    rows.append([c.strip() for c in row])
                    lines.append(reader.line_num)
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: not a readable UTF-8 CSV file ({e}).") from None
    if not rows:
        raise DataError(f"{path}: the file is empty.")
    other = _other_delimiter(rows, delimiter) if all(len(row) == 1 for row in rows[:20]) else None
    if other is not None:
        raise DataError(f"{path}: every line is one column when split at {json.dumps(delimiter)}, but "
                        f"{json.dumps(other)} splits them evenly; "
                        f"{fix or 'set data.delimiter: ' + json.dumps(other)}.")
    header = rows[0] if _has_header(rows) else None
    if header is not None and len(rows) > 1:
        numbers = [k + 1 for k, (a, b) in enumerate(zip(header, rows[1])) if _is_number(a) and _is_number(b)]
        if numbers:      # a data row with one bad cell looks like this too: say which way it was read
            warnings.warn(f"{path}: line {lines[0]} is read as the header (a column has text there over numbers), "
                          f"but its column {numbers[0]} holds a number, {header[numbers[0] - 1]}: if line "
                          f"{lines[0]} is data, fix its text cell; if it is the header, name that column with "
                          "text.", LayerwiseWarning, stacklevel=3)
    width = len(rows[0])
    for row, line in zip(rows, lines):
        if len(row) != width:
            raise DataError(f"{path}: line {line} has {len(row)} columns, expected {width} like the "
                            f"{'header' if header else 'first row'}.")
    body, lines = (rows[1:], lines[1:]) if header else (rows, lines)
    if not body:
        raise DataError(f"{path}: no data rows after the header.")
    return header, body, lines, width


def _warn_index(path, body):
    warnings.warn(f"{path}: the first column has no name and holds whole numbers such as "
                  f"{', '.join(row[0] for row in body[:3])}: a pandas index (to_csv without index=False); "
                  "it is not used as a feature.", LayerwiseWarning, stacklevel=3)


def _text_column(header, body, columns):
    """The first of ``columns`` without a single number (text, such as a label), and one of its cells."""
    for k in columns:
        cells = [row[k] for row in body]
        if any(cells) and not any(_is_number(c) for c in cells):
            return k, next(c for c in cells if c)
    return None


def _column_name(header, k):
    return f"column {k + 1}" + (f" ({header[k]!r})" if header else "")


def _label_left_in(header, body, features):
    """': drop the label column ...?', naming the column of text among ``features`` when there is one."""
    text = _text_column(header, body, features)
    if text is None:
        return ": drop the label column?"
    return f": drop the label column {f'{header[text[0]]!r}' if header else f'(column {text[0] + 1})'}?"


def _features(path, header, body, lines, features):
    """The float64 array of the ``features`` columns; a cell that is not a finite number is named by
    its line and column in the file."""
    X = np.empty((len(body), len(features)))
    for i, (row, line) in enumerate(zip(body, lines)):
        for j, k in enumerate(features):
            try:
                X[i, j] = value = float(row[k])
            except ValueError:
                value = None
            if value is None or not math.isfinite(value):
                what = ("an empty cell" if row[k] == "" else f"{row[k]!r} is not a number" if value is None
                        else f"{row[k]!r} is not a finite number")
                raise DataError(f"{path}: line {line}, {_column_name(header, k)}: {what}.") from None
    return X


def read_csv(path, label_column=-1, *, delimiter=",", feature_names=False):
    """Features and labels from a numeric CSV file with an optional header row.

    Parameters
    ----------
    path : str or path-like
    label_column : int, str or None, default -1
        Index of the label column (negative counts from the end) or its name in the header; None:
        no label column, every column is a feature (inputs to predict on).
    delimiter : str, default ","
        The one-character field separator. A file that is one column at ``delimiter`` but evenly
        split by another of ``, ; \\t |`` is refused with a hint naming that one.
    feature_names : bool, default False
        Also return the header's names of the feature columns (None without a header).

    Returns
    -------
    X : ndarray of float64, shape (N, F)
    y : ndarray of int64 (integral numbers) or str; None without a label column
    None, None
    names : list of str or None, with ``feature_names`` only

    Notes
    -----
    A first column without a name (an empty first header cell) that holds distinct whole numbers,
    such as the 0 .. n-1 that ``pandas.DataFrame.to_csv`` writes for the index, is not a feature: it
    is dropped with a :class:`~layerwise.errors.LayerwiseWarning`. Column indices (``label_column``)
    still count it. Without a label column, a column holding text and no number is refused as a
    label column left in.
    """
    header, body, lines, width = _read_table(path, delimiter)
    path = Path(path)
    label = None if label_column is None else _label_index(path, label_column, header, width)
    if width < 2 and label is not None:
        raise DataError(f"{path}: has 1 column; expected feature columns besides the label column.")
    index = _index_column(header, body, label)
    if index is not None:
        _warn_index(path, body)
    features = [k for k in range(width) if k not in (label, index)]
    text = _text_column(header, body, features) if label is None and len(features) > 1 else None
    if text is not None:
        raise DataError(f"{path}: {_column_name(header, text[0])} holds text such as {text[1]!r}, not numbers: "
                        "drop the label column? Without one, every column is a feature.")
    for row, line in zip(body, lines):
        if label is not None and row[label] == "":
            raise DataError(f"{path}: line {line}, column {label + 1}: the label is empty.")
    X = _features(path, header, body, lines, features)
    names = ([header[k] for k in features] if header else None,) if feature_names else ()
    if label is None:
        return (X, None, None, None, *names)
    y = np.array([row[label] for row in body])
    if all(_is_number(v) for v in y):
        yf = y.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(yf))
        if bad.size:
            raise DataError(f"{path}: line {lines[bad[0]]}, column {label + 1}: the label {str(y[bad[0]])!r} is not a "
                            f"finite number ({bad.size} such labels).")
        # integers as int64 when int64 holds them all (1e20 stays a float: a cast would wrap it)
        y = yf.astype(np.int64) if np.all(yf == np.round(yf)) and np.all(np.abs(yf) < 2.0 ** 63) else yf
    elif header is None and len(y) > 2 and np.count_nonzero(y == y[0]) == 1 and _numbered(body[0], features):
        warnings.warn(f"{path}: line {lines[0]} is read as data, and its label {str(y[0])!r} is in no other row: is "
                      "it a header whose column names are numbers? A header is recognised by a column with text "
                      "over numbers: name the columns with text.", LayerwiseWarning, stacklevel=2)
    return (X, y, None, None, *names)


def _numbered(row, columns):
    """True when ``row`` holds 0, 1, 2... or 1, 2, 3... in ``columns``: column names that are numbers."""
    try:
        values = [float(row[k]) for k in columns]
    except ValueError:
        return False
    return values[:1] in ([0.0], [1.0]) and all(b - a == 1 for a, b in zip(values, values[1:]))


def read_csv_inputs(path, n_features, label_column=None, *, delimiter=",", feature_names=None):
    """The samples in a CSV file to predict on: ``n_features`` numbers per row.

    Parameters
    ----------
    path : str or path-like
    n_features : int >= 1
        The number of inputs the model takes.
    label_column : int, str or None, default None
        The label column of the training file (``data.label_column`` of a ``csv`` run). A file with
        it and ``n_features`` other columns, such as the training file itself, is read as that was,
        the labels left out; a file with ``n_features`` columns is all features.
    delimiter : str, default ","
    feature_names : list of str, optional
        The training file's feature columns; a file with a header must name the same, in that order.

    Returns
    -------
    X : ndarray of float64, shape (N, n_features)

    Raises
    ------
    DataError
        A row with another number of fields than the first, a file with another number of columns
        than either form (naming a label column to drop when one more), or a cell that is not a
        finite number (its line and column in the file).
    """
    header, body, lines, width = _read_table(
        path, delimiter, fix=f"the run reads its CSV split at {json.dumps(delimiter)} (its data.delimiter): "
                             "give predict a file split that way")
    path = Path(path)
    try:       # the training file's label column, when this file has it
        label = None if label_column is None else _label_index(path, label_column, header, width)
    except DataError:
        label = None
    index = _index_column(header, body, label)
    features = [k for k in range(width) if k not in (label, index)]
    if len(features) != n_features:            # not the training file's form: all features?
        index = _index_column(header, body, None)
        features = [k for k in range(width) if k != index]
    if len(features) != n_features:
        hint = _label_left_in(header, body, features) if len(features) == n_features + 1 else "."
        raise DataError(f"{path}: has {len(features)} columns{' besides the index' if index is not None else ''}, "
                        f"the model takes {n_features} features{hint}")
    if header is not None and feature_names is not None:
        got = [header[k] for k in features]
        moved = [(k, a, b) for k, a, b in zip(features, got, feature_names) if a != b]
        if moved:    # the same count of other or reordered columns: every prediction would be silently wrong
            k, a, b = moved[0]
            raise DataError(f"{path}: column {k + 1} is {a!r} where the run's training file had {b!r} ({len(moved)} "
                            f"of {len(got)} feature columns differ); give the columns in the training order: "
                            f"{', '.join(feature_names)}.")
    if index is not None:
        _warn_index(path, body)
    return _features(path, header, body, lines, features)
