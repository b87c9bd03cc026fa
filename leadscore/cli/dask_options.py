"""Options and set-up shared by the commands that run on Dask (``--engine dask``).

``dask_client`` connects to ``--scheduler`` or starts a ``LocalCluster`` here and prints where
to watch it; ``account_partitions`` reads the tables (Parquet files from ``--source``, else the
store in key ranges) and splits them by account (``scale.partitions``).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterator, Optional

import typer

from crm.settings import Settings
from leadscore.cli.common import console

if TYPE_CHECKING:
    from distributed import Client

    from scale.partitions import AccountPartitions

ENGINES = ("local", "dask")

EngineOption = Annotated[str, typer.Option(
    help="local (this process) or dask (a Dask cluster: --scheduler, else a LocalCluster).")]
SchedulerOption = Annotated[Optional[str], typer.Option(
    help="Dask scheduler address, e.g. tcp://scheduler-host:8786 (default: a LocalCluster here).")]
WorkersOption = Annotated[int, typer.Option(
    min=1, help="Workers of the LocalCluster (one thread each).")]
MemoryOption = Annotated[str, typer.Option(
    help="Memory limit per LocalCluster worker, e.g. 4GiB (auto: split the machine).")]
PartitionsOption = Annotated[Optional[int], typer.Option(
    min=1, help="Account partitions (default: 4 per worker thread).")]
SourceOption = Annotated[Optional[Path], typer.Option(
    "--source", exists=True, file_okay=False,
    help="Folder of <table>.parquet files or <table>/ folders of part files (leadscore "
         "export); default: the store, read in key ranges.")]


def check_engine(engine: str) -> str:
    """``engine`` when it is one of ``ENGINES``; a usage error naming the option otherwise."""
    if engine not in ENGINES:
        raise typer.BadParameter(f"must be local or dask, not {engine!r}", param_hint="--engine")
    return engine


@contextmanager
def dask_client(scheduler: str | None, workers: int, memory_limit: str) -> Iterator["Client"]:
    """A Dask client (``scale.cluster.open_client``); prints the cluster and its dashboard."""
    from scale.cluster import open_client

    if logging.getLogger().getEffectiveLevel() > logging.INFO:  # no --verbose
        logging.getLogger("distributed").setLevel(logging.WARNING)
        logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)  # p2p start/stop
        logging.getLogger("distributed.nanny").setLevel(logging.ERROR)  # workers at shutdown
    with open_client(scheduler, n_workers=workers, memory_limit=memory_limit) as client:
        threads = sum(client.nthreads().values())
        where = scheduler or "a LocalCluster on this machine"
        console.print(f"Dask: {where}, {len(client.nthreads())} worker(s), {threads} thread(s)"
                      + (f"; dashboard {client.dashboard_link}" if scheduler else ""),
                      highlight=False)
        yield client


def account_partitions(client: "Client", settings: Settings, source: Path | None,
                       partitions: int | None, persist: bool = True) -> "AccountPartitions":
    """Leads, activities and accounts split by account; held in the cluster's memory when
    ``persist`` (read more than once), else streamed through whatever uses them."""
    from scale.inputs import read_parquet_tables, read_store_tables
    from scale.partitions import partition_by_account

    tables = (read_parquet_tables(source) if source is not None
              else read_store_tables(settings.database_url))
    count = partitions or 4 * sum(client.nthreads().values())
    console.print(f"reading {'files in ' + str(source) if source else 'the store'} into "
                  f"{count} account partitions", highlight=False)
    parts = partition_by_account(tables, count)
    return parts.persist() if persist else parts
