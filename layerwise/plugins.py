"""Plugins: the config's ``plugins`` entries, imported so that what they register becomes config names.

A plugin adds to the registries (``@layerwise.register`` for layers; ``LOSSES``, ``OPTIMIZERS``,
``SCHEDULES``), so it is imported before the names in the config are checked.
"""

import importlib
import importlib.util
import sys

from .errors import ConfigError, LayerwiseError


def load_plugins(config):
    """Import every entry of ``config.plugins``: a .py file relative to the config, or a module name."""
    for i, entry in enumerate(config.plugins):
        where = f"{config.source}: plugins[{i}]"
        name = None
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
        except LayerwiseError:
            raise
        except (Exception, SystemExit) as e:  # the plugin's own code failed (or called sys.exit): one line
            sys.modules.pop(name, None)   # so that a fixed plugin is imported afresh
            raise ConfigError(f"{where}: importing {entry!r} failed: {type(e).__name__}: {e}") from None
