"""Name -> class tables (layers, losses, optimizers, schedules) that refuse a second class under a name.

A config names its layer types, loss, optimizer and schedule from these tables, and plugins add to
them. Putting another class under a taken name (a plugin's ``sgd``) would change what a config means
without a word, so it is an error. The same class registered again is not: a plugin file imported
both by a config's ``plugins`` and by the user's own ``import`` defines it twice, from one file.
"""

import sys
from pathlib import Path


def origin(cls):
    """Where ``cls`` is defined: ``"layerwise.optim.SGD"`` for layerwise's own, else ``"path/to/file.py:Class"``
    (a plugin file, whatever name it was imported under), or ``"module.Class"`` without a file."""
    file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    if file is None or is_builtin(cls):
        return f"{cls.__module__}.{cls.__qualname__}"
    return f"{Path(file).resolve()}:{cls.__qualname__}"


def is_builtin(cls):
    """True for layerwise's own classes: an error in their code is a bug to report with its traceback,
    not a user's plugin mistake to put on one line."""
    return cls.__module__.split(".")[0] == "layerwise"


def _moved(cls):
    """True when the plugin file that defined ``cls`` is no longer there (moved: its new copy may take the name)."""
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)    # only a file layerwise imported as a plugin (load_plugins)
    return hasattr(module, "__layerwise_mtime__") and file is not None and not Path(file).exists()


class Registry(dict):
    """A dict of name -> class whose ``[name] = cls`` refuses a name taken by a class defined elsewhere.

    ``kind`` names the table in messages ("loss", "optimizer"...). Restoring a saved copy with
    ``update`` or ``clear`` is not checked.
    """

    def __init__(self, kind, *args):
        super().__init__(*args)
        self.kind = kind

    def __setitem__(self, name, cls):
        old = self.get(name)
        if old is not None and old is not cls and origin(old) != origin(cls) and not _moved(old):
            raise ValueError(f"The {self.kind} name '{name}' is already registered to {origin(old)}; register "
                             f"{origin(cls)} under another name (or replace it on purpose with .replace(name, cls)).")
        super().__setitem__(name, cls)

    def replace(self, name, cls):
        """Put ``cls`` under ``name`` even when another class holds it (a test's spy, a deliberate override);
        returns the class it replaces, or None."""
        old = self.get(name)
        super().__setitem__(name, cls)
        return old
