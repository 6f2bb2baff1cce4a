"""Plugins: the config's ``plugins`` entries, imported so that what they register becomes config names.

A plugin adds to the registries (``@layerwise.register`` for layers; ``LOSSES``, ``OPTIMIZERS``,
``SCHEDULES``), so it is imported before the names in the config are checked.
"""

import importlib
import importlib.util
import os
import sys

from .errors import ConfigError, LayerwiseError

#: the files of the plugins imported in this process (a .py entry, or a module's file or package folder): an
#: error raised in one of them is the plugin's, which the command line reports in one line
PLUGIN_FILES = set()
#: (what, name) -> (the file that defines what a plugin registered under the name in this process; what it registered)
REGISTERED_BY = {}


def _tables():
    """The registries a plugin adds to, by what their names are in a config."""
    from .data.datasets import DATASETS
    from .losses import LOSSES
    from .modules.registry import MODULES
    from .optim import OPTIMIZERS
    from .schedules import SCHEDULES
    return {"layer type": MODULES, "loss": LOSSES, "optimizer": OPTIMIZERS, "schedule": SCHEDULES,
            "dataset": DATASETS}


def load_plugins(config):
    """Import every entry of ``config.plugins``: a .py file relative to the config, or a module name."""
    tables = _tables()
    for i, entry in enumerate(config.plugins):
        where = f"{config.source}: plugins[{i}]"
        name = None
        before = {what: dict(table) for what, table in tables.items()}
        try:
            if entry.endswith(".py"):
                path = config.resolve_path(entry)
                if path.is_dir():
                    raise ConfigError(f"{where}: {path} is a folder; give the .py file in it.")
                if not path.is_file():
                    raise ConfigError(f"{where}: no such file {path}. If the file moved, give its new place: "
                                      f"--set 'plugins=[/new/place/{path.name}]'.")
                name = f"layerwise_plugin_{path.stem}_{abs(hash(str(path.resolve())))}"
                stamp = path.stat().st_mtime_ns
                if getattr(sys.modules.get(name), "__layerwise_mtime__", None) == stamp:
                    continue      # imported already, and not edited since (an edited one is imported again)
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                module.__layerwise_mtime__ = stamp
                sys.modules[name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(entry)
            plugin = _plugin_path(config, entry)
            PLUGIN_FILES.add(plugin)
            for what, table in tables.items():        # names added, or registered again (a moved copy)
                for added, value in table.items():
                    if before[what].get(added) is not value:
                        REGISTERED_BY[what, added] = (_defined_in(value, plugin), value)
        except LayerwiseError:
            raise
        except (Exception, SystemExit) as e:  # the plugin's own code failed (or called sys.exit): one line
            sys.modules.pop(name, None)   # so that a fixed plugin is imported afresh
            raise ConfigError(f"{where}: importing {entry!r} failed: {type(e).__name__}: {e}") from None


def raised_in_plugin(error):
    """``"my_losses.py:12"``, the innermost place in a plugin's files where ``error`` passed, or None."""
    found, tb = None, error.__traceback__
    while tb is not None:
        path = os.path.realpath(tb.tb_frame.f_code.co_filename)
        if any(_under(path, p) for p in PLUGIN_FILES):
            found = f"{os.path.basename(path)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


def _plugin_path(config, entry):
    """The real path of a plugin entry: its .py file, a module's file, or a package's folder ("" when unknown)."""
    if entry.endswith(".py"):
        return os.path.realpath(config.resolve_path(entry))
    origin = getattr(sys.modules.get(entry), "__file__", None) or ""
    return os.path.realpath(os.path.dirname(origin) if origin.endswith("__init__.py") else origin) if origin else ""


def _under(path, root):
    return bool(root) and (path == root or path.startswith(root + os.sep))


def _defined_in(value, plugin):
    """The file that defines ``value`` when it lies in ``plugin`` (a package's module), else ``plugin``."""
    module = sys.modules.get(getattr(value, "__module__", None) or "")
    origin = os.path.realpath(getattr(module, "__file__", None) or "")
    return origin if _under(origin, plugin) else plugin


def check_plugin_names(config, used):
    """A ConfigError when a name in ``used`` (``[(what, key, name)]``) was registered in this process by a plugin
    that ``config`` does not list: the run would train, then its config.yaml would not load anywhere else."""
    listed, tables = [_plugin_path(config, entry) for entry in config.plugins], _tables()
    for what, key, name in used:
        if not isinstance(name, str):
            continue            # (not a name: the schema's own check says so)
        origin, value = REGISTERED_BY.get((what, name), (None, None))
        # (a name registered since by other code, or put back by a test, is no longer the plugin's)
        if origin is not None and not any(_under(origin, p) for p in listed) and tables[what].get(name) is value:
            raise ConfigError(f"{key}: the {what} {name!r} comes from the plugin {origin}, which this config does not "
                              f"list (it was imported earlier in this process); add it to plugins.")
