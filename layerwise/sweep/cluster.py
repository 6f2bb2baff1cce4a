"""Trials on an existing Dask cluster, through ``dask.distributed.Client``.

The cluster is Dask's: ``dask scheduler`` on one machine, ``dask worker ADDRESS`` on any number.
Workers need layerwise and the data; the driver keeps the study. A worker that dies mid-trial is
Dask's to handle: the scheduler reruns the task on another worker, and after
``distributed.scheduler.allowed-failures`` deaths gives up with ``KilledWorker``, which the sweep
records as a failed trial. Dask's nanny starts each worker process with one BLAS/OpenMP thread
(``distributed.nanny.pre-spawn-environ``), so ``--nthreads`` trials share a worker's cores.
"""

import contextlib
import logging
import uuid
from concurrent.futures import CancelledError

from ..errors import LayerwiseError
from .trial import run_trial


#: how long the client tries to reach the scheduler, at the start and again after losing it
CONNECT_TIMEOUT = "20s"


def _failed(message):
    return {"state": "fail", "message": message, "values": [], "summary": None, "files": {}}


class DaskPool:
    """Submit trials to the Dask scheduler at ``address``; as many at once as the cluster has threads.

    Parameters
    ----------
    address : str
        The scheduler, such as ``tcp://10.0.0.5:8786``.
    log : callable, optional
        Called with one-line notes (no workers yet).
    """

    def __init__(self, address, log=None):
        from distributed import Client
        self.address, self.log = address, log or (lambda line: None)
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            raise LayerwiseError(f"--dask {address}: no Dask scheduler answered there ({type(e).__name__}: {e}); "
                                 "start one with 'dask scheduler' and give its tcp:// address.") from None
        self.futures = {}
        self.stop_event = f"layerwise-sweep-stop-{uuid.uuid4().hex}"    # set by close(kill=True)
        # the client logs a lost scheduler as an ERROR with a traceback of several screens: the sweep's own
        # one-line error says it (until close)
        self._client_log = logging.getLogger("distributed.client")
        self._client_level = self._client_log.level
        self._client_log.setLevel(logging.CRITICAL)
        self._count_threads()
        if not self.threads:
            self.log(f"no Dask workers at {address} yet; trials start when 'dask worker {address}' joins")

    def _count_threads(self):
        # a round trip to the scheduler: done once per wait(), not on every look at slots
        self.threads = sum(self.client.nthreads().values())

    @property
    def slots(self):
        """Trials to keep submitted: the cluster's threads as of the last wait (at least one)."""
        return max(1, self.threads)

    def submit(self, task):
        key = f"layerwise-trial-{task['number']}-{uuid.uuid4().hex[:8]}"
        self.futures[key] = self.client.submit(run_trial, {**task, "stop_event": self.stop_event}, key=key,
                                               pure=False)
        return key

    def wait(self, timeout=None):
        """``[(handle, outcome), ...]`` of the trials that ended within ``timeout`` seconds."""
        from distributed import KilledWorker, wait
        if not self.futures:
            return []
        try:
            try:
                done, _ = wait(list(self.futures.values()), timeout=timeout, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = []
            self._count_threads()
        except (CancelledError, OSError) as e:     # the scheduler went away: Dask cancels every future
            raise LayerwiseError(f"--dask {self.address}: the connection to the Dask scheduler was lost "
                                 f"({type(e).__name__}); the trials that ran go back to the queue: start the scheduler "
                                 "and its workers again, and run the same command to go on.") from None
        out = []
        for future in done:
            del self.futures[future.key]
            if future.status == "finished":
                out.append((future.key, future.result()))
                continue
            error = future.exception() if future.status == "error" else None
            if isinstance(error, KilledWorker):
                message = "the Dask workers that ran it died on every attempt (KilledWorker)"
            elif error is not None:
                message = f"Dask could not run it: {type(error).__name__}: {error}"
            else:
                message = f"Dask reported the task as {future.status}"
            out.append((future.key, _failed(message)))
        return out

    def close(self, kill=False):
        """Stop what still runs (``kill``) and disconnect; the cluster itself stays up.

        Cancelling drops the trials that wait; the ones already running stop at their next look at
        the stop event (:class:`~layerwise.sweep.trial.StopSignal`, within about a second).
        """
        if kill and self.futures:
            from distributed import Event
            # best effort: a scheduler that has gone (the error that may have brought us here) must not
            # hide that error or keep the driver from queueing its trials again
            with contextlib.suppress(Exception):
                Event(self.stop_event, client=self.client).set()
            with contextlib.suppress(Exception):
                self.client.cancel(list(self.futures.values()))
        self.futures = {}
        try:
            self.client.close()
        finally:
            self._client_log.setLevel(self._client_level)
