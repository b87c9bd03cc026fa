"""Fits kept between forecasts, keyed by what the CRM knew when they were made.

A forecast refits one time-to-close model per past month and rebuilds each past month's
evidence (``FitCache``); from scratch that is seconds. But a fit made at moment ``m`` reads only
what was known at ``m`` (the point-in-time tests prove it), so it stays valid while that part of
the CRM is unchanged, however much happened after ``m``. ``KnownAt`` fingerprints that part:

* deals created before ``m``: id, creation time and the columns that never change in a deal's
  life (product, owner, account), plus, for deals closed before ``m``, the close time, outcome
  and amount;
* stage-history rows entered before ``m`` (stage, amount, expected close date).

Today's new deals, today's closes and the edits of open deals leave every earlier fingerprint
as it was, so tomorrow's forecast (another process, another read of the store) finds the past
months' fits and evidence in a ``FitStore``; an edit of something known at ``m`` (a corrected
close before ``m``, a re-import) changes the fingerprint and the fit is made again. Keys also
carry the model settings, the library versions and a digest of the forecast code, so an upgrade
never reads an older fit.

A ``FitStore`` keeps entries in memory (least recently used first out) and, given a directory,
on disk as pickles, one file per key, written atomically. Pickles execute code when read: point
it only at a directory this installation writes: the CLI and the service use
``<data_dir>/forecast_fits`` (``FitStore.in_data_dir``), which is safe to delete at any time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
from collections import OrderedDict
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np
import pandas as pd

from crm.timestamps import to_utc_series

logger = logging.getLogger(__name__)

STATIC_COLUMNS = ("product", "owner", "account_id")
_CLOSE_COLUMNS = ("closed_at", "outcome", "amount")
_HISTORY_COLUMNS = ("opportunity_id", "stage", "entered_at", "amount", "expected_close_date")
_MISSING = object()
FOLDER = "forecast_fits"


class KnownAt:
    """Fingerprints of what ``tables`` knew at any moment (see the module docstring).

    Row hashes are computed once; each fingerprint is then a masked sum over them.
    """

    def __init__(self, tables: dict[str, pd.DataFrame]):
        deals = tables["opportunities"]
        base = ["opportunity_id", "created_at", *[c for c in STATIC_COLUMNS if c in deals]]
        self._created = _utc_ns(deals["created_at"])
        self._closed = _utc_ns(deals["closed_at"])
        self._open_hash = _row_hashes(deals, base)
        self._closed_hash = _row_hashes(deals, [*base, *_CLOSE_COLUMNS])
        history = tables["opportunity_stage_history"]
        self._entered = _utc_ns(history["entered_at"])
        self._history_hash = _row_hashes(history, list(_HISTORY_COLUMNS))

    def fingerprint(self, moment: pd.Timestamp) -> str:
        """A digest of the deals and stage history known at ``moment`` (UTC)."""
        m = _utc_ns(pd.Series([moment]))[0]
        created = self._created < m
        closed = self._closed < m   # NaT (int64 min) is never "closed before m": masked below
        closed &= self._closed != np.iinfo("int64").min
        deals = np.where(closed, self._closed_hash, self._open_hash)[created]
        history = self._history_hash[self._entered < m]
        parts = (int(deals.sum(dtype="uint64")), int(created.sum()),
                 int(history.sum(dtype="uint64")), len(history))
        return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def _utc_ns(stamps: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (NaT: the int64 minimum)."""
    values = to_utc_series(stamps)
    return values.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view("int64")


def _row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    present = [c for c in columns if c in frame.columns]
    return pd.util.hash_pandas_object(frame.loc[:, present], index=False).to_numpy("uint64")


@lru_cache(maxsize=1)
def code_version() -> str:
    """Library versions and a digest of the forecast package's source: part of every key."""
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    versions = [f"{name}={_version(name)}" for name in ("scikit-learn", "lightgbm", "numpy",
                                                         "pandas")]
    return f"{digest.hexdigest()}|{'|'.join(versions)}"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "none"


def make_key(*parts: object) -> str:
    """A file-safe key from ``parts`` (fingerprints, settings, names) and ``code_version``."""
    text = repr((code_version(), *parts))
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


class FitStore:
    """Fits and evidence by key: in memory (``max_items``, least recently used out) and, with
    ``directory``, on disk. Thread-safe; a file that cannot be read counts as missing.

    Args:
        directory: where pickles go (created when first written); None: memory only.
        max_items: entries kept in memory.
    """

    def __init__(self, directory: Path | str | None = None, max_items: int = 512,
                 max_files: int = 20_000):
        if max_items < 1 or max_files < 1:
            raise ValueError(f"max_items and max_files must be >= 1, got {max_items} and "
                             f"{max_files}")
        self.directory = Path(directory) if directory is not None else None
        self.max_items = max_items
        self._memory: OrderedDict[str, Any] = OrderedDict()
        self._lock = Lock()
        self.hits = 0
        self.misses = 0
        if self.directory is not None:
            self._prune(max_files)

    @classmethod
    def in_data_dir(cls, data_dir: Path | str) -> "FitStore":
        """The store of an installation: ``<data_dir>/forecast_fits`` (safe to delete)."""
        return cls(Path(data_dir) / FOLDER)

    def _prune(self, max_files: int) -> None:
        """Delete the least recently written files beyond ``max_files`` (old fits and evidence
        of data long gone) and temporary files a killed writer left."""
        if not self.directory.is_dir():
            return
        for stale in self.directory.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        files = sorted(self.directory.glob("*.pkl"), key=lambda path: path.stat().st_mtime)
        for old in files[:max(0, len(files) - max_files)]:
            old.unlink(missing_ok=True)

    def get(self, key: str) -> Any | None:
        """The entry stored under ``key``, or None."""
        with self._lock:
            found = self._memory.get(key, _MISSING)
            if found is not _MISSING:
                self._memory.move_to_end(key)
                self.hits += 1
                return found
        found = self._read(key)
        with self._lock:
            if found is None:
                self.misses += 1
                return None
            self.hits += 1
            self._remember(key, found)
        return found

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` (in memory, and on disk with a directory)."""
        with self._lock:
            self._remember(key, value)
        if self.directory is not None:
            self._write(key, value)

    def _remember(self, key: str, value: Any) -> None:
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_items:
            self._memory.popitem(last=False)

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.pkl"

    def _read(self, key: str) -> Any | None:
        if self.directory is None or not self._path(key).is_file():
            return None
        try:
            with self._path(key).open("rb") as handle:
                return pickle.load(handle)
        except Exception as error:   # a torn or foreign file: refit rather than fail
            logger.warning("forecast fit store: cannot read %s (%s); fitting again",
                           self._path(key), error)
            return None

    def _write(self, key: str, value: Any) -> None:
        temporary = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(handle, "wb") as out:
                pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, self._path(key))
        except OSError as error:   # a read-only or full disk costs speed, not the forecast
            logger.warning("forecast fit store: cannot write to %s (%s)", self.directory, error)
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
