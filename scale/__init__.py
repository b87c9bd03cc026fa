"""Past one machine: feature building, batch scoring and training on Dask.

The same feature kernels, scorer and trainer as the local path, run per partition of the
canonical tables on a Dask cluster (``distributed``; a ``LocalCluster`` when no scheduler is
named). The tables are split **by account** (``scale.partitions``): a company's leads, their
activities and the company's row land in one partition, so account roll-ups and lead counts
stay inside it and every partition is an independent call of ``features.leads``.

* ``scale.cluster`` — a Dask client: an existing scheduler or a ``LocalCluster``;
* ``scale.inputs`` — the canonical tables as Dask DataFrames, from Parquet files (``leadscore
  export``, or folders of part files) or from the SQL store read in key ranges;
* ``scale.partitions`` — the account split and running a pandas function per partition;
* ``scale.features`` — lead features and SQL training examples on Dask;
* ``scale.scoring`` — batch scoring with reasons, written as partitioned Parquet;
* ``scale.training`` — the SQL model's booster fitted with ``lightgbm.dask``.

This layer sits between the CLI and the service (it reuses ``serving.scorer``); nothing below
it imports Dask.
"""
