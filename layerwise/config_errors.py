"""One-line config messages, built from pydantic's structured errors (``loc``, ``type``, ``ctx``).

``describe`` turns one error into "optimizer.lr must be a number > 0, got -0.1."; the caller puts
the file name in front.
"""

import datetime
import difflib

from pydantic_core import PydanticCustomError

# tags of union members, which pydantic puts in ``loc``; the brackets keep them apart from config keys
UNION_TAGS = ("<name>", "<mapping>")


def did_you_mean(word, choices):
    """`` Did you mean 'x'?`` or an empty string."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""


def key_path(*parts):
    """``key_path("model.layers", 1, "units")`` -> ``"model.layers[1].units"``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "":
            out += f".{part}" if out and not str(part).startswith("[") else str(part)
    return out


def one_of(where, got, choices):
    """``"loss must be one of 'mse', 'bce', got 'mes'. Did you mean 'mse'?"``"""
    return (f"{where} must be one of {', '.join(map(repr, choices))}, got {got!r}."
            f"{did_you_mean(got, choices)}")


def unknown_name(choices):
    """The error a field validator raises for a name that is not in ``choices``."""
    return PydanticCustomError("unknown_name", "must be one of {choices}", {"choices": list(choices)})


def unknown_key(key, known):
    """The error a model raises for a key it does not have; ``known`` lists the keys it has."""
    return PydanticCustomError("unknown_key", "unknown key {key}", {"key": key, "known": list(known)})


_EXPECT = {
    "greater_than": "{noun} > {gt}", "greater_than_equal": "{noun} >= {ge}",
    "less_than": "{noun} < {lt}", "less_than_equal": "{noun} <= {le}", "finite_number": "a finite number",
    "int_type": "an integer", "float_type": "a number", "bool_type": "true or false", "string_type": "a string",
    "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
    "too_short": "a list of at least {min_length} items", "too_long": "a list of at most {max_length} items",
}


def _short(value, width=60):
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def describe(err, where=""):
    """The message for one pydantic error, its key path under ``where``."""
    loc = [k for k in err["loc"] if k not in UNION_TAGS]
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    path = key_path(where, *loc)
    if kind == "unknown_key":
        parent, known = path, ctx["known"]
        if not isinstance(ctx["key"], str):       # YAML read `1:` as an integer key: no key path of it
            return (f"{parent + ': ' if parent else ''}the key {ctx['key']!r} is not a name (YAML read it as "
                    f"{type(ctx['key']).__name__}; quote it). Known keys: {', '.join(known)}.")
        hint = did_you_mean(ctx["key"], known) or f" Known keys{' of ' + parent if parent else ''}: {', '.join(known)}."
        return f"unknown key '{key_path(parent, ctx['key'])}'.{hint}"
    if kind == "missing":
        return f"{path} is required."
    if kind == "unknown_name":
        return one_of(path, got, ctx["choices"])
    if kind in _EXPECT:
        # the bound's own type says what the field holds: ints for counts, floats for rates
        bound = next((v for k, v in ctx.items() if k in ("gt", "ge", "lt", "le")), None)
        noun = "an integer" if isinstance(bound, int) else "a number"
        values = {k: f"{v:g}" if isinstance(v, float) else v for k, v in ctx.items()}
        read_as = ("true or false (yes, no, on and off too)" if isinstance(got, bool)
                   else "a date" if isinstance(got, datetime.date) else "a number")
        quote = (f" (YAML reads it unquoted as {read_as}: put the name in quotes)"
                 if kind == "string_type" and isinstance(got, (datetime.date, bool, int, float)) else "")
        return f"{path} must be {_EXPECT[kind].format(noun=noun, **values)}, got {_short(got)}{quote}."
    if kind == "sweep_spec":          # its message quotes the bad item itself
        return f"{path}: {err['msg']}."
    return f"{path}: {err['msg']}, got {_short(got)}."
