"""Config files: reading, safe YAML with limits for hostile files, and ``--set KEY=VALUE`` overrides."""

import re

import yaml

from .errors import ConfigError

# a config has tens of values; past this, aliases are being used to blow it up ("billion laughs")
MAX_NODES = 100_000
#: the largest config file read (the largest real one is a few KiB; YAML parses about 2.5 MB a second)
MAX_BYTES = 2**20


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping says the same key twice (YAML keeps the last one silently)."""


class _Loader(yaml.SafeLoader):
    """Safe YAML, plus floats written like ``1e-4`` (YAML 1.1 would read them as strings), and a key
    said twice in one mapping is an error (plain YAML keeps the last, so half a section would vanish)."""

    def construct_mapping(self, node, deep=False):
        first = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in first:
                    raise _DuplicateKey(None, None, f"the key '{key_node.value}' appears twice in one mapping "
                                        f"(first on line {first[key_node.value] + 1}); a config says each key once",
                                        key_node.start_mark)
                first[key_node.value] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def expanded_size(root, cap=MAX_NODES):
    """The number of nodes under ``root`` with every alias expanded, counted up to just past ``cap``.

    An alias is the very node its anchor names, so sizes are memoized per node: a document whose
    aliases expand to billions of nodes is measured, not built. A node that contains itself would
    expand without end; it counts as past the cap.
    """
    sizes, open_nodes = {}, set()

    def size(node):
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            return cap + 1
        open_nodes.add(key)
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else ()
        total = 1
        for child in children:
            total += size(child)
            if total > cap:
                break
        open_nodes.discard(key)
        sizes[key] = total
        return total

    return size(root)


def read_text(path):
    """The text of a config file, or a ConfigError that says why it is not one."""
    if path.is_dir():
        inside = path / "config.yaml"
        hint = f" Did you mean {inside}?" if inside.is_file() else ""
        raise ConfigError(f"{path}: is a directory, not a config file.{hint}")
    if not path.is_file():
        raise ConfigError(f"{path}: {'not a regular file' if path.exists() else 'no such config file'}.")
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_BYTES // 2**20} MiB; a config is a few lines of YAML "
                              "(is this the right file?).")
        return data.decode("utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config: {e.strerror}.") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a text file in UTF-8 (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                          "a config is YAML text saved as UTF-8.") from None


def _load(text, source):
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None and expanded_size(node) > MAX_NODES:
            raise ConfigError(f"{source}: the YAML's aliases (*name) expand to more than {MAX_NODES:,} values, "
                              "or to a value that contains itself; a config is far smaller.")
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def parse_yaml(text, source):
    """Plain data from YAML text, or a ConfigError naming ``source`` and the line."""
    try:
        return _load(text, source)
    except ConfigError:
        raise
    except _DuplicateKey as e:
        raise ConfigError(f"{source}: line {e.problem_mark.line + 1}: {e.problem}.") from None
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        where = f" line {mark.line + 1}:" if mark else ""
        raise ConfigError(f"{source}:{where} {e.problem} (only plain YAML is allowed; "
                          "tags such as !!python are never executed).") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise ConfigError(f"{source}:{where} invalid YAML: {problem}.") from None
    except RecursionError:
        raise ConfigError(f"{source}: the YAML is nested too deeply to be a config.") from None
    except ValueError as e:  # a scalar Python cannot hold: an integer of 5000 digits, a 13th month
        raise ConfigError(f"{source}: a value cannot be read ({e}).") from None


def parse_scalar(text, source="--set"):
    """A ``--set`` value parsed as a YAML scalar (``0.1`` -> float, ``true`` -> bool, ``null`` -> None)."""
    return parse_yaml(text, source)


def apply_override(data, assignment, flag="--set"):
    """Apply one ``KEY=VALUE`` (dotted key, list items by index) to the raw config dict in place; ``flag`` is the
    option that gave it, for messages (``--param`` for a sweep's trial values)."""
    key, sep, value = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"{flag} {assignment}: expected KEY=VALUE, such as optimizer.lr=0.05.")
    parts = re.sub(r"\[(-?\d+)\]", r".\1", key.strip()).split(".")   # layers[1].units == layers.1.units
    if "" in parts:
        raise ConfigError(f"{flag} {assignment}: the key '{key}' has an empty part; a key is dotted names, such as "
                          "optimizer.lr or model.layers.1.units.")
    node = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                raise ConfigError(f"{flag} {assignment}: '{'.'.join(parts[:i]) or key}' is a list of "
                                  f"{len(node)} items; '{part}' is not an index into it.")
            part = int(part)
        elif not isinstance(node, dict):
            raise ConfigError(f"{flag} {assignment}: '{'.'.join(parts[:i])}' is not a mapping.")
        if last:
            node[part] = parse_scalar(value, f"{flag} {assignment}")
        else:
            if isinstance(node, dict) and not isinstance(node.get(part), (dict, list)):
                node[part] = {}
            node = node[part]
    return data
