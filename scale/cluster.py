"""A Dask client: connect to a running scheduler, or start a ``LocalCluster`` here."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import dask
from distributed import Client, LocalCluster

logger = logging.getLogger(__name__)

# The workers' statistical profiler samples every task thread's stack 100 times a second; on
# the scorer's Python-heavy reasons it made tasks ~1.5x slower (measured), so a local cluster
# runs without it. Workers of a remote scheduler: DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False.
NO_PROFILER = {"distributed.worker.profile.enabled": False}


@contextmanager
def open_client(scheduler: str | None = None, n_workers: int = 2, threads_per_worker: int = 1,
                memory_limit: str | float | None = "auto", processes: bool = True,
                dashboard: bool = False) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, or of a new ``LocalCluster``.

    Args:
        scheduler: address such as ``tcp://scheduler-host:8786``; None starts a local cluster that
            is closed again on exit.
        n_workers / threads_per_worker / memory_limit / processes: the local cluster's shape
            (``memory_limit`` per worker, e.g. ``"4GiB"``; ``"auto"`` splits the machine).
        dashboard: serve the local cluster's dashboard (its link is logged).

    The local cluster's workers run without Dask's statistical profiler (``NO_PROFILER``).

    Yields:
        The connected ``distributed.Client``.
    """
    if scheduler:
        with Client(scheduler) as client:
            logger.info("connected to Dask scheduler %s (dashboard %s)", scheduler,
                        client.dashboard_link)
            yield client
        return
    with dask.config.set(NO_PROFILER), \
            LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                         memory_limit=memory_limit, processes=processes,
                         dashboard_address=":0" if dashboard else None) as cluster, \
            Client(cluster) as client:
        logger.info("started a local Dask cluster: %d worker(s) x %d thread(s)%s", n_workers,
                    threads_per_worker, f", dashboard {client.dashboard_link}" if dashboard
                    else "")
        yield client
