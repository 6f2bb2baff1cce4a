"""The top-level package: every public name, imported on first use."""

import subprocess
import sys

import pytest


def test_every_public_name_resolves_and_gradcheck_stays_the_function():
    # a fresh interpreter: in this one, other tests have imported everything already
    code = ("import sys, types, layerwise as lw\n"
            "assert 'numpy' not in sys.modules\n"            # import layerwise is instant (see cli.main)
            "import layerwise.gradcheck, layerwise.analysis\n"  # loads the module named like the function
            "assert callable(lw.gradcheck) and not isinstance(lw.gradcheck, types.ModuleType)\n"
            "missing = [n for n in lw.__all__ if getattr(lw, n, None) is None]\n"
            "assert not missing, missing\n"
            "extra = [n for n in dir(lw) if n not in lw.__all__ and not n.startswith('__')]\n"
            "assert all(getattr(lw, n).__name__.startswith('layerwise.') for n in extra), extra\n"  # submodules only
            "from layerwise import *\n"
            "assert Linear is lw.Linear and isinstance(run, types.ModuleType)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_an_unknown_name_is_an_attribute_error():
    import layerwise as lw
    with pytest.raises(AttributeError, match="no attribute 'Linaer'"):
        getattr(lw, "Linaer")
