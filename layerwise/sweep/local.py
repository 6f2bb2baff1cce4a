"""Trials on local worker processes, each held to its share of the cores.

Each worker is a spawned process that runs one trial at a time. Its BLAS and OpenMP thread pools
are limited to ``cores // jobs`` threads (or fewer, as ``OPENBLAS_NUM_THREADS`` and the like in the environment
ask): through the environment before NumPy loads, and with
threadpoolctl once it has, so that ``jobs`` workers never fight over the cores. A worker that dies
mid-trial (killed, out of memory) is replaced and its trial retried once on the new worker; a
second death marks the trial failed. Workers ignore SIGINT: Ctrl-C is the driver's to handle.
"""

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
ATTEMPTS = 2


def cores():
    """The cores this process may run on (its affinity mask where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _asked_threads():
    """The thread limits the user set in the environment (``OPENBLAS_NUM_THREADS=1``): a worker takes no more."""
    asked = []
    for name in THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) >= 1:
            asked.append(int(value))
    return asked


def _watch(driver, orphaned, every=1.0, grace=30.0):
    """Set ``orphaned`` once the driver (pid ``driver``) is gone, killed even: the running trial then stops
    at its next batch (:class:`~layerwise.sweep.trial.StopSignal`) and cleans up; exit if it has not
    after ``grace`` seconds. The driver queues the trial again when it is run anew."""
    while os.getppid() == driver:
        time.sleep(every)
    orphaned.set()
    time.sleep(grace)
    os._exit(1)


def _serve(conn, threads, driver):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the driver stops a busy worker with SIGTERM (Ctrl-C, an error): leave as an exception does, so the trial's
    # temporary run folder is removed (the default action left one in /tmp per running trial)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    orphaned = threading.Event()
    # the driver's pid comes from the driver: read here, it may already be the init process's
    threading.Thread(target=_watch, args=(driver, orphaned), daemon=True).start()
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads)
    try:
        _serve_tasks(conn, orphaned)
    except _Terminated:     # cleaned up: now end as killed by SIGTERM, as the driver expects to see it
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _serve_tasks(conn, orphaned):
    from .trial import run_trial
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        outcome = run_trial({**task, "should_stop": orphaned.is_set})
        if orphaned.is_set():
            return
        try:
            conn.send(outcome)
        except OSError:      # the driver has gone (BrokenPipeError): nobody wants the outcome
            return


class _Terminated(BaseException):
    """SIGTERM, raised where the worker is: the trial's ``with`` blocks close (its temporary folder goes)."""


def _exit_on_sigterm(signum, frame):
    raise _Terminated


@contextlib.contextmanager
def _sigint_ignored():
    # an ignored signal stays ignored across exec, so a Ctrl-C while a worker starts up is the driver's
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _environ(values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _death(exitcode):
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


class _Worker:
    def __init__(self, ctx, threads):
        self.conn, child = ctx.Pipe()
        with _environ({k: str(threads) for k in THREAD_VARIABLES}), _sigint_ignored():
            self.process = ctx.Process(target=_serve, args=(child, threads, os.getpid()), daemon=True,
                                       name="layerwise-sweep-worker")
            self.process.start()
        child.close()
        self.job = None     # (handle, task, attempt)

    def start(self, handle, task, attempt):
        self.job = (handle, task, attempt)
        self.conn.send(task)


class LocalPool:
    """Up to ``jobs`` worker processes, started as trials need them.

    Parameters
    ----------
    jobs : int >= 1
    log : callable, optional
        Called with a one-line note when a worker dies and its trial is retried.
    """

    def __init__(self, jobs, log=None):
        self.jobs = jobs
        self.threads = min([max(1, cores() // jobs), *_asked_threads()])
        self.log = log or (lambda line: None)
        self.ctx = multiprocessing.get_context("spawn")
        self.workers, self._next = [], 0

    @property
    def slots(self):
        return self.jobs

    def submit(self, task):
        """Start ``task`` on an idle worker (a new one if none is idle); returns its handle."""
        self._next += 1
        self._start(self._next, task, 1)
        return self._next

    def _start(self, handle, task, attempt):
        idle = [w for w in self.workers if w.job is None]
        if idle:
            try:
                idle[0].start(handle, task, attempt)
                return
            except OSError:     # it died while idle (BrokenPipeError): not the driver's output closing
                self.workers.remove(idle[0])
                idle[0].process.join(timeout=10)
                idle[0].conn.close()
        worker = _Worker(self.ctx, self.threads)
        self.workers.append(worker)
        worker.start(handle, task, attempt)

    def wait(self, timeout=None):
        """``[(handle, outcome), ...]`` of the trials that ended within ``timeout`` seconds."""
        busy = [w for w in self.workers if w.job is not None]
        if not busy:
            return []
        ready = set(multiprocessing.connection.wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                                                    timeout))
        done = []
        for w in busy:
            if w.conn not in ready and w.process.sentinel not in ready:
                continue
            (handle, task, attempt), w.job = w.job, None
            try:
                done.append((handle, w.conn.recv()))
                continue
            except (EOFError, OSError):
                pass
            w.process.join()
            why = _death(w.process.exitcode)
            self.workers.remove(w)
            w.conn.close()
            if attempt < ATTEMPTS:
                self.log(f"trial {task['number']}: its worker process {why}; retrying it on a new worker")
                self._start(handle, task, attempt + 1)
            else:
                done.append((handle, {"state": "fail", "values": [], "summary": None, "files": {},
                                      "message": f"its worker process {why}, on {attempt} attempts"}))
        return done

    def close(self, kill=False):
        """Stop the workers: at once (``kill``), or after asking them to finish."""
        for w in self.workers:
            if kill or w.job is not None:
                w.process.terminate()
            else:
                with contextlib.suppress(OSError):
                    w.conn.send(None)
        for w in self.workers:
            w.process.join(timeout=10)
            if w.process.is_alive():
                w.process.kill()
                w.process.join()
            w.conn.close()
        self.workers = []
