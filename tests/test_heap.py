"""layerwise._heap: a training step reuses the pages the last step freed (glibc's M_TOP_PAD), once per process,
unless the user set malloc up themselves."""

import json
import os
import platform
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


SETTINGS = [(_heap.M_MMAP_THRESHOLD, _heap.MMAP_THRESHOLD), (_heap.M_TOP_PAD, _heap.TOP_PAD)]


@pytest.fixture
def libc(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(_heap, "_done", False)
    monkeypatch.setattr(_heap, "_kept", False)
    monkeypatch.setattr(_heap, "_mallopt", lambda: fake.mallopt)
    monkeypatch.setattr(_heap.platform, "system", lambda: "Linux")
    monkeypatch.setattr(_heap.platform, "libc_ver", lambda: ("glibc", "2.36"))
    for name in [k for k in os.environ if k.startswith("MALLOC_")] + ["LAYERWISE_KEEP_HEAP", "GLIBC_TUNABLES"]:
        monkeypatch.delenv(name, raising=False)
    return fake


def test_the_settings_are_made_once_per_process(libc):
    assert _heap.keep_freed_memory() is True
    assert _heap.keep_freed_memory() is False
    assert libc.calls == SETTINGS


def test_set_optimizer_and_trainer_fit_set_it(libc):
    lw.Sequential(lw.Linear(3, 2)).set_optimizer(lw.SGD(lr=0.1))
    assert libc.calls == SETTINGS
    _heap._done = False
    model = lw.Linear(3, 2)
    model.optimizer = lw.SGD(lr=0.1)        # no set_optimizer: Trainer.fit is the first to ask
    lw.Trainer(model, "cross_entropy", epochs=1, batch_size=4, progress="off").fit(
        np.zeros((8, 3), np.float32), np.arange(8) % 2)
    assert libc.calls == SETTINGS * 2


def test_a_refused_threshold_sets_nothing(libc, monkeypatch):
    """A 32-bit glibc refuses a 32 MiB mmap threshold: the pad alone would freeze the threshold at 128 KiB."""
    calls = []

    def mallopt(param, value):
        calls.append((param, value))
        return 0 if param == _heap.M_MMAP_THRESHOLD else 1
    monkeypatch.setattr(_heap, "_mallopt", lambda: mallopt)
    assert _heap.keep_freed_memory() is False
    assert calls == SETTINGS[:1] and _heap._kept is False


def test_other_malloc_settings_of_the_user_do_not_stop_it(libc, monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    assert _heap.keep_freed_memory() is True
    assert libc.calls == SETTINGS


@pytest.mark.parametrize("env", [{"LAYERWISE_KEEP_HEAP": "0"}, {"MALLOC_TOP_PAD_": "1048576"},
                                 {"MALLOC_MMAP_THRESHOLD_": "131072"}, {"MALLOC_TRIM_THRESHOLD_": "0"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1000000:glibc.malloc.arena_max=2"}])
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
    n_in, hidden, batch, steps, warm = map(int, sys.argv[1:])
    rng = np.random.default_rng(0)
    X, y = rng.random((batch * steps, n_in), dtype=np.float32), rng.integers(0, 10, batch * steps)
    model = lw.Sequential(lw.Linear(n_in, hidden, rng=rng), lw.ReLU(), lw.Linear(hidden, hidden, rng=rng),
                          lw.ReLU(), lw.Linear(hidden, 10, rng=rng))
    model.set_optimizer(lw.SGD(lr=0.01, momentum=0.9))
    trainer = lw.Trainer(model, "cross_entropy", epochs=warm, batch_size=batch, progress="off", seed=0)
    trainer.fit(X, y)           # the heap grows to the steps' working set
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    trainer.epochs += 2
    trainer.fit(X, y)
    print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before,
                      "torch": "torch" in sys.modules}))
""")


def _faults(keep, *sizes):
    env = {"LAYERWISE_KEEP_HEAP": "1" if keep else "0", "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, "-c", CHILD, *map(str, sizes)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not got["torch"]
    return got["faults"]


GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="page faults of glibc's malloc")
def test_training_steps_take_no_new_pages():
    """Two epochs (64 steps) after the first, on two BLAS threads as in training: with the heap kept the steps
    reuse their pages; with malloc as it comes they take fresh, zeroed pages every step (thousands of faults)."""
    kept, as_it_comes = _faults(True, 784, 256, 128, 32, 1), _faults(False, 784, 256, 128, 32, 1)
    assert kept < 64, (kept, as_it_comes)
    assert as_it_comes > 10 * max(kept, 64), (kept, as_it_comes)


@pytest.mark.skipif(not GLIBC, reason="page faults of glibc's malloc")
def test_steps_whose_arrays_outgrow_the_pad_take_no_new_pages_either():
    """Steps that allocate more than TOP_PAD (a 12 MiB batch, 8 MiB activations): their arrays must come from the
    heap too. With M_TOP_PAD alone, set before any large free, glibc's mmap threshold stayed at 128 KiB and each
    such array was mapped and unmapped every step (thousands of faults a step). Counted over two steps after
    three, once the heap has grown to the steps' working set."""
    assert _faults(True, 3072, 2048, 1024, 1, 3) < 8


class FakeLibcHeap:
    """malloc_trim and mallinfo2's free bytes; a trim leaves ``left`` free bytes behind (fragments)."""

    def __init__(self, free, left=0):
        self.free, self.left, self.trims = free, left, []

    def malloc_trim(self, pad):
        self.trims.append(pad)
        self.free = self.left
        return 1


@pytest.fixture
def heap(monkeypatch):
    def use(free, left=0, kept=True, measurable=True):
        fake = FakeLibcHeap(free, left)
        monkeypatch.setattr(_heap, "_kept", kept)
        monkeypatch.setattr(_heap, "_free_after_release", 0)
        monkeypatch.setattr(_heap, "_libc", lambda: fake)
        monkeypatch.setattr(_heap, "_free_heap_bytes", lambda libc: libc.free if measurable else None)
        return fake
    return use


@pytest.mark.parametrize("kept, free, measurable, trims",
                         [(True, 1 << 30, True, [0]), (True, 1 << 20, True, []), (True, 1 << 30, False, []),
                          (False, 1 << 30, True, [])],
                         ids=["much free", "little free", "no mallinfo2", "thresholds not set"])
def test_fit_gives_back_the_free_heap_only_above_the_limit(heap, kept, free, measurable, trims):
    fake = heap(free, kept=kept, measurable=measurable)
    assert _heap.release_free_memory() is bool(trims)
    assert fake.trims == trims


def test_free_bytes_a_trim_cannot_return_do_not_trim_again_and_again(heap):
    """mallinfo2 still counts fragments and given-back memory after a trim: the next fits trim only when the free
    memory grew by more than the limit since."""
    fake = heap(1 << 30, left=900 << 20)
    assert _heap.release_free_memory() is True
    assert [_heap.release_free_memory() for _ in range(3)] == [False] * 3
    fake.free += _heap.RELEASE_ABOVE + 1
    assert _heap.release_free_memory() is True
    assert fake.trims == [0, 0]


SHARDS = textwrap.dedent("""
    import json, numpy as np, layerwise as lw
    from layerwise import _heap
    def rss():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))
    _heap.RELEASE_ABOVE = 16 << 20
    model = lw.Sequential(lw.Linear(784, 10)).set_optimizer(lw.SGD(lr=0.1, momentum=0.9))
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for _ in range(16):                 # 4 MiB shards, each followed by labels that stay
        xs.append(np.ones((1337, 784), np.float32))
        ys.append(rng.integers(0, 10, 1337))
    X = np.concatenate(xs)
    del xs
    y = np.concatenate(ys)
    built = rss()
    lw.Trainer(model, "cross_entropy", epochs=1, batch_size=128, progress="off").fit(X[:256], y[:256])
    print(json.dumps({"built": built, "training": rss()}))
""")


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc")
def test_shards_freed_before_fit_do_not_stay_with_the_process():
    """Shards of a dataset joined after set_optimizer are freed into the heap (they are below MMAP_THRESHOLD):
    Trainer.fit gives that memory back as it starts."""
    env = {"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "2"}
    proc = subprocess.run([sys.executable, "-c", SHARDS], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["built"] - got["training"] > 48 << 20, got      # the 64 MiB of shards
