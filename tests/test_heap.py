"""layerwise._heap: a training step reuses the pages the last step freed (glibc's M_TOP_PAD), once per process,
unless the user set malloc up themselves."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import layerwise as lw
from layerwise import _heap


class FakeLibc:
    def __init__(self):
        self.calls = []

        def mallopt(param, value):
            self.calls.append((param, value))
            return 1
        self.mallopt = mallopt


@pytest.fixture
def libc(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(_heap, "_done", False)
    monkeypatch.setattr(_heap.ctypes, "CDLL", lambda name: fake)
    monkeypatch.setattr(_heap.platform, "system", lambda: "Linux")
    monkeypatch.setattr(_heap.platform, "libc_ver", lambda: ("glibc", "2.36"))
    for name in ("LAYERWISE_KEEP_HEAP", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    return fake


def test_the_top_pad_is_set_once_per_process(libc):
    assert _heap.keep_freed_memory() is True
    assert _heap.keep_freed_memory() is False
    assert libc.calls == [(_heap.M_TOP_PAD, _heap.TOP_PAD)]


def test_set_optimizer_and_trainer_fit_set_it(libc):
    lw.Sequential(lw.Linear(3, 2)).set_optimizer(lw.SGD(lr=0.1))
    assert libc.calls == [(_heap.M_TOP_PAD, _heap.TOP_PAD)]
    _heap._done = False
    model = lw.Linear(3, 2)
    model.optimizer = lw.SGD(lr=0.1)        # no set_optimizer: Trainer.fit is the first to ask
    lw.Trainer(model, "cross_entropy", epochs=1, batch_size=4, progress="off").fit(
        np.zeros((8, 3), np.float32), np.arange(8) % 2)
    assert len(libc.calls) == 2


@pytest.mark.parametrize("env", [{"LAYERWISE_KEEP_HEAP": "0"}, {"MALLOC_TOP_PAD_": "1048576"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"}])
def test_malloc_the_user_set_up_is_left_alone(libc, monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _heap.keep_freed_memory() is False
    assert libc.calls == []


def test_another_c_library_is_left_alone(libc, monkeypatch):
    monkeypatch.setattr(_heap.platform, "libc_ver", lambda: ("", ""))
    assert _heap.keep_freed_memory() is False
    assert libc.calls == []


CHILD = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import layerwise as lw
    rng = np.random.default_rng(0)
    X, y = rng.random((4096, 784), dtype=np.float32), rng.integers(0, 10, 4096)
    model = lw.Sequential(lw.Linear(784, 256, rng=rng), lw.ReLU(), lw.Linear(256, 10, rng=rng))
    model.set_optimizer(lw.SGD(lr=0.01, momentum=0.9))
    trainer = lw.Trainer(model, "cross_entropy", epochs=1, batch_size=128, progress="off", seed=0)
    trainer.fit(X, y)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    trainer.epochs = 3
    trainer.fit(X, y)
    print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before,
                      "torch": "torch" in sys.modules}))
""")


def _epoch_faults(keep):
    env = {"LAYERWISE_KEEP_HEAP": "1" if keep else "0", "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not got["torch"]
    return got["faults"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="page fault counts and glibc: Linux only")
def test_training_steps_take_no_new_pages():
    """Two epochs (64 steps) after the first, on two BLAS threads as in training: with the heap kept the steps
    reuse their pages; with malloc as it comes they take fresh, zeroed pages every step (thousands of faults)."""
    kept, as_it_comes = _epoch_faults(True), _epoch_faults(False)
    assert kept < 64, (kept, as_it_comes)
    assert as_it_comes > 10 * max(kept, 64), (kept, as_it_comes)
