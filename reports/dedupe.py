"""名寄せ: duplicate leads and accounts, their match scores, clusters and merge suggestions.

1. **Normalise** each record once (``reports.names``): folded names and company names, romaji
   name tokens, e-mail address, its local-part tokens and domain (free-mail aware), phone.
2. **Block**: only records sharing a key are compared — the same e-mail, the same phone, or the
   same person key (name or e-mail tokens, see ``names.person_keys``) within the same company
   (account, else corporate e-mail domain). Keys shared by more than ``max_block`` records are
   skipped (logged), so the work grows with the data, not with its square.
3. **Score** each candidate pair in [0, 1] from its strongest evidence (same e-mail 0.95, same
   phone 0.9, same name or reading 0.9, name matching the other's e-mail 0.8–0.9, similar name
   up to 0.85 by rapidfuzz), +0.05 for the same company, ×0.6 for different companies, ×0.9
   for a name match with no company on either side, and ×0.5 for two different corporate
   addresses at one domain (two people at one company).
4. **Cluster** pairs at or above ``threshold`` (connected components); the earliest record of a
   cluster is kept, the others are merge suggestions. The **duplicate rate** is the share of
   records that would disappear by merging, against the practice target of at most 5%.
"""

from __future__ import annotations

import logging
from collections import namedtuple
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.metrics.cluster import pair_confusion_matrix

from features.firmographic import email_domain, is_free_mail_domain, normalize_domain
from reports.names import (
    email_local_tokens,
    name_key,
    name_tokens,
    normalize_company_name,
    normalize_email,
    normalize_phone,
    person_keys,
    shared_person_keys,
)
from crm.schema import require_columns

logger = logging.getLogger(__name__)

DUPLICATE_RATE_TARGET = 0.05
DEFAULT_THRESHOLD = 0.85
PHONE_KEYS = ("phone", "tel", "telephone", "電話番号")


@dataclass(frozen=True)
class DedupeResult:
    """Duplicates found in one table.

    Attributes:
        entity: ``leads`` or ``accounts``.
        records: records examined.
        pairs: every candidate pair scored: ``id_a``, ``id_b`` (id_a < id_b), ``score``,
            ``reasons`` (the evidence, ``; ``-joined), ``match`` (score >= threshold); best first.
        clusters: one row per record in a duplicate cluster: ``id``, ``cluster`` (the kept
            record's id), ``keep`` (True for the record to keep: the earliest).
        threshold: the match score threshold used.
    """

    entity: str
    records: int
    pairs: pd.DataFrame
    clusters: pd.DataFrame
    threshold: float

    @property
    def duplicate_rate(self) -> float:
        """Share of records that merging would remove: (clustered - clusters) / records."""
        if self.records == 0:
            return 0.0
        return int((~self.clusters["keep"]).sum()) / self.records

    @property
    def meets_target(self) -> bool:
        """Duplicate rate at or below the practice target (5%)."""
        return self.duplicate_rate <= DUPLICATE_RATE_TARGET

    def merge_suggestions(self) -> pd.DataFrame:
        """One row per record to merge: ``cluster``, ``keep_id``, ``merge_id``, the best
        ``score`` linking it to its cluster and its ``reasons`` — the merge file's rows."""
        merged = self.clusters[~self.clusters["keep"]]
        matches = self.pairs[self.pairs["match"]]
        linked = pd.concat([matches.rename(columns={"id_a": "merge_id", "id_b": "other"}),
                            matches.rename(columns={"id_b": "merge_id", "id_a": "other"})])
        best = linked.sort_values("score", ascending=False).drop_duplicates("merge_id")
        out = merged.rename(columns={"id": "merge_id"}).merge(
            best[["merge_id", "score", "reasons"]], on="merge_id", how="left")
        out.insert(1, "keep_id", out["cluster"])
        return out[["cluster", "keep_id", "merge_id", "score", "reasons"]].sort_values(
            ["cluster", "merge_id"]).reset_index(drop=True)


# --- records ---------------------------------------------------------------------------------

def _map_unique(values: pd.Series, normalize: Callable[[object], object]) -> list:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = [normalize(u) for u in uniques] + [normalize(None)]
    return [mapped[c] for c in codes]


def _phones(leads: pd.DataFrame) -> pd.Series:
    """A ``phone`` column if there is one, else a phone number in ``attributes`` JSON."""
    if "phone" in leads.columns:
        return leads["phone"]
    if "attributes" not in leads.columns:
        return pd.Series(None, index=leads.index, dtype="str")
    text = leads["attributes"].astype("str")
    pattern = "|".join(PHONE_KEYS)
    found = text.str.extract(rf'"(?:{pattern})"\s*:\s*"([^"]*)"', expand=False)
    return found


def build_lead_records(leads: pd.DataFrame) -> pd.DataFrame:
    """Normalised matching fields of each lead (one row per lead, same order).

    Columns: ``id``, ``created_at``, ``name_key``, ``tokens`` (romaji name), ``email``,
    ``local`` (e-mail local tokens), ``domain``, ``corporate`` (non-free domain or ''),
    ``phone``, ``company`` (account id, else corporate domain, else '').
    """
    require_columns({"leads": leads}, {"leads": ("lead_id", "created_at", "name", "email",
                                                 "account_id")})
    emails = _map_unique(leads["email"], normalize_email)
    domains = [email_domain(e) for e in emails]
    corporate = ["" if not d or is_free_mail_domain(d) else d for d in domains]
    account = leads["account_id"].astype("str").fillna("").tolist()
    return pd.DataFrame({
        "id": leads["lead_id"].astype("str").to_numpy(),
        "created_at": leads["created_at"].to_numpy(dtype="datetime64[us]"),
        "name_key": _map_unique(leads["name"], name_key),
        "tokens": _map_unique(leads["name"], name_tokens),
        "email": emails,
        "local": [email_local_tokens(e) if e else () for e in emails],
        "domain": domains,
        "corporate": corporate,
        "phone": _map_unique(_phones(leads), normalize_phone),
        "company": [a if a else (f"@{c}" if c else "") for a, c in zip(account, corporate)],
    })


def record_rows(records: pd.DataFrame) -> list:
    """Records as a list of named tuples (fast to iterate; pandas' own iterators are slow on
    Arrow-backed text columns)."""
    row = namedtuple("Record", list(records.columns))  # type: ignore[misc]
    return [row(*values) for values in zip(*(records[c].tolist() for c in records.columns))]


def _lead_block_keys(records: pd.DataFrame) -> pd.DataFrame:
    rows, keys = [], []
    for i, r in enumerate(record_rows(records)):
        own = {f"e:{r.email}"} if r.email else set()
        if r.phone:
            own.add(f"p:{r.phone}")
        person = person_keys(r.tokens) | person_keys(r.local)
        if r.name_key:
            person.add(f"n:{r.name_key}")
        own |= {f"{k}@{r.company}" for k in person}
        rows += [i] * len(own)
        keys += list(own)
    return pd.DataFrame({"row": np.asarray(rows, dtype=np.int64), "key": keys})


def candidate_pairs(keys: pd.DataFrame, max_block: int = 200) -> np.ndarray:
    """Row pairs (i < j) sharing at least one blocking key; ``keys`` has ``row`` and ``key``.

    Keys held by more than ``max_block`` rows are skipped (logged): they are too common to say
    anything (a shared switchboard number, a generic address).
    """
    codes = pd.factorize(keys["key"])[0]
    keys = pd.DataFrame({"row": keys["row"].to_numpy(), "key": codes}).drop_duplicates()
    counts = np.bincount(keys["key"].to_numpy())
    sizes = counts[keys["key"].to_numpy()]
    if (counts > max_block).any():
        logger.info("skipped %d blocking keys shared by more than %d records",
                    int((counts > max_block).sum()), max_block)
    keys = keys[(sizes > 1) & (sizes <= max_block)]
    joined = keys.merge(keys, on="key", suffixes=("_a", "_b"))
    joined = joined[joined["row_a"] < joined["row_b"]]
    pairs = joined[["row_a", "row_b"]].drop_duplicates().to_numpy(dtype=np.int64)
    return pairs.reshape(-1, 2)


# --- scoring ---------------------------------------------------------------------------------

def _name_evidence(a, b) -> tuple[float, str]:
    if a.name_key and a.name_key == b.name_key:
        return 0.9, "same name"
    if a.tokens and b.tokens:
        if _same_reading(a, b):
            return 0.9, "same name (reading)"
        similarity = fuzz.token_sort_ratio(" ".join(a.tokens), " ".join(b.tokens)) / 100
    elif a.name_key and b.name_key:
        similarity = fuzz.ratio(a.name_key, b.name_key) / 100
    else:
        return 0.0, ""
    return (0.85 * similarity, f"similar name ({similarity:.2f})") if similarity >= 0.8 else (
        0.0, "")


def _same_reading(a, b) -> bool:
    return any(k.startswith("t:") for k in shared_person_keys(a.tokens, b.tokens))


def _email_name_evidence(a, b) -> tuple[float, str]:
    """A name (or address) of one record matching the other's e-mail address. An initial-only
    match (``yokada``) does not count when both records carry readable names that differ
    (Yuki Okada writing from yokada2@ is not Yoko Okada)."""
    best = (0.0, "")
    for names, address in ((a.tokens, b.local), (b.tokens, a.local), (a.local, b.local)):
        shared = shared_person_keys(names, address)
        if any(k.startswith("t:") for k in shared):
            return 0.9, "name matches e-mail"
        if shared and not (a.tokens and b.tokens and not _same_reading(a, b)):
            best = (0.8, "name matches e-mail (initial)")
    return best


def score_lead_pair(a, b) -> tuple[float, str]:
    """Match score in [0, 1] and the reasons, for two lead records (rows of
    ``build_lead_records`` as named tuples)."""
    contact = [(0.95, "same e-mail") if a.email and a.email == b.email else (0.0, ""),
               (0.9, "same phone") if a.phone and a.phone == b.phone else (0.0, "")]
    found = [e for e in [*contact, _name_evidence(a, b), _email_name_evidence(a, b)] if e[0]]
    if not found:
        return 0.0, ""
    score = max(s for s, _ in found)
    reasons = [r for _, r in sorted(found, reverse=True)]
    if a.company and a.company == b.company:
        score, reasons = score + 0.05, reasons + ["same company"]
    elif a.company and b.company:
        score, reasons = score * 0.6, reasons + ["different companies"]
    elif not (a.company or b.company or any(s for s, _ in contact)):
        score, reasons = score * 0.9, reasons + ["no company to confirm the name"]
    if a.corporate and a.corporate == b.corporate and a.email != b.email:
        score, reasons = score * 0.5, reasons + ["different addresses at one company"]
    return min(score, 1.0), "; ".join(reasons)


def score_pairs(records: pd.DataFrame, pairs: np.ndarray,
                score: Callable[[object, object], tuple[float, str]],
                threshold: float) -> pd.DataFrame:
    """Score row pairs of ``records``; returns id_a, id_b, score, reasons, match, best first."""
    rows = record_rows(records)
    scored = [score(rows[i], rows[j]) for i, j in pairs]
    ids = records["id"].to_numpy()
    out = pd.DataFrame({"id_a": ids[pairs[:, 0]] if len(pairs) else [],
                        "id_b": ids[pairs[:, 1]] if len(pairs) else [],
                        "score": [s for s, _ in scored], "reasons": [r for _, r in scored]})
    swap = out["id_a"] > out["id_b"]
    out.loc[swap, ["id_a", "id_b"]] = out.loc[swap, ["id_b", "id_a"]].to_numpy()
    out["match"] = out["score"] >= threshold
    return out.sort_values(["score", "id_a"], ascending=[False, True]).reset_index(drop=True)


def cluster_matches(records: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Connected components of the matching pairs: id, cluster (the earliest record's id),
    keep — only records that have a duplicate."""
    matches = pairs[pairs["match"]]
    index = pd.Index(records["id"])
    a, b = index.get_indexer(matches["id_a"]), index.get_indexer(matches["id_b"])
    n = len(records)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    members = np.unique(np.concatenate([a, b])) if len(a) else np.array([], dtype=int)
    frame = pd.DataFrame({"id": records["id"].to_numpy()[members], "label": labels[members],
                          "created_at": records["created_at"].to_numpy()[members]})
    first = frame.sort_values(["created_at", "id"]).drop_duplicates("label")
    frame["cluster"] = frame["label"].map(first.set_index("label")["id"])
    frame["keep"] = frame["id"] == frame["cluster"]
    return frame[["id", "cluster", "keep"]].sort_values(["cluster", "id"]).reset_index(drop=True)


def find_duplicate_leads(leads: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD,
                         max_block: int = 200) -> DedupeResult:
    """Duplicate leads: the same person entered more than once.

    Args:
        leads: canonical leads (``lead_id``, ``created_at``, ``name``, ``email``,
            ``account_id``; a ``phone`` column or a phone in ``attributes`` is used if there).
        threshold: match score at or above which a pair is a duplicate.
        max_block: blocking keys shared by more records than this are skipped.

    Returns:
        A ``DedupeResult`` for ``leads``.
    """
    _check_threshold(threshold)
    records = build_lead_records(leads)
    pairs = candidate_pairs(_lead_block_keys(records), max_block)
    scored = score_pairs(records, pairs, score_lead_pair, threshold)
    logger.info("leads: %d candidate pairs from %d records", len(scored), len(records))
    return DedupeResult("leads", len(records), scored, cluster_matches(records, scored),
                        threshold)


def _check_threshold(threshold: float) -> None:
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")


# --- accounts --------------------------------------------------------------------------------

def domains_from_leads(leads: pd.DataFrame) -> pd.Series:
    """Each account's most common corporate (non-free) e-mail domain among its leads."""
    domains = pd.Series([email_domain(e) for e in _map_unique(leads["email"], normalize_email)],
                        index=leads.index)
    corporate = (domains != "") & ~domains.map(is_free_mail_domain) & leads["account_id"].notna()
    pairs = pd.DataFrame({"account_id": leads.loc[corporate, "account_id"],
                          "domain": domains[corporate]})
    ranked = pairs.value_counts().reset_index().drop_duplicates("account_id")
    return ranked.set_index("account_id")["domain"]


def build_account_records(accounts: pd.DataFrame,
                          leads: pd.DataFrame | None = None) -> pd.DataFrame:
    """Normalised matching fields of each account: id, name (normalised), domain, country.

    A missing domain is taken from the account's leads' corporate e-mail addresses when
    ``leads`` is given.
    """
    require_columns({"accounts": accounts}, {"accounts": ("account_id", "name")})
    domains = accounts["domain"] if "domain" in accounts.columns else pd.Series(
        None, index=accounts.index, dtype="str")
    if leads is not None:
        known = accounts["account_id"].map(domains_from_leads(leads))
        domains = domains.fillna(pd.Series(known.to_numpy(), index=accounts.index))
    countries = accounts["country"] if "country" in accounts.columns else domains
    return pd.DataFrame({
        "id": accounts["account_id"].astype("str").to_numpy(),
        "created_at": np.arange(len(accounts)),
        "name": _map_unique(accounts["name"], normalize_company_name),
        "domain": _map_unique(domains, lambda d: "" if d is None else normalize_domain(d)),
        "country": countries.astype("str").fillna("").to_numpy(),
    })


def _account_block_keys(records: pd.DataFrame) -> pd.DataFrame:
    parts = [("n:", records["name"]), ("d:", records["domain"]),
             ("p:", records["name"].str.slice(0, 4))]
    frames = [pd.DataFrame({"row": np.arange(len(records)), "key": prefix + values})
              for prefix, values in parts]
    keys = pd.concat(frames)
    return keys[keys["key"].str.len() > 2]


def score_account_pair(a, b) -> tuple[float, str]:
    """Match score in [0, 1] and the reasons, for two account records."""
    found = []
    if a.domain and a.domain == b.domain:
        found.append((0.95, "same domain"))
    if a.name and a.name == b.name:
        found.append((0.9, "same name"))
    elif a.name and b.name:
        similarity = fuzz.ratio(a.name, b.name) / 100
        if similarity >= 0.9:
            found.append((0.9 * similarity, f"similar name ({similarity:.2f})"))
    if not found:
        return 0.0, ""
    score = max(s for s, _ in found)
    reasons = [r for _, r in sorted(found, reverse=True)]
    if a.domain and b.domain and a.domain != b.domain:
        score, reasons = score * 0.6, reasons + ["different domains"]
    if a.country and b.country and a.country != b.country:
        score, reasons = score * 0.7, reasons + ["different countries"]
    return min(score, 1.0), "; ".join(reasons)


def find_duplicate_accounts(accounts: pd.DataFrame, leads: pd.DataFrame | None = None,
                            threshold: float = DEFAULT_THRESHOLD,
                            max_block: int = 200) -> DedupeResult:
    """Duplicate accounts: one company entered under name variants (株式会社/(株)/Inc.,
    widths, kana) or with the same domain. The first-listed record of a cluster is kept.

    Args:
        accounts: canonical accounts (``account_id``, ``name``; ``domain`` and ``country``
            used when present).
        leads: canonical leads, optional: their corporate e-mail domains stand in for a
            missing account domain (two same-name companies whose staff write from different
            domains are two companies).
        threshold: match score at or above which a pair is a duplicate.
        max_block: blocking keys shared by more records than this are skipped.
    """
    _check_threshold(threshold)
    records = build_account_records(accounts, leads)
    pairs = candidate_pairs(_account_block_keys(records), max_block)
    scored = score_pairs(records, pairs, score_account_pair, threshold)
    return DedupeResult("accounts", len(records), scored, cluster_matches(records, scored),
                        threshold)


# --- evaluation ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DedupeQuality:
    """Pairwise precision and recall of the found clusters against known duplicates."""

    precision: float
    recall: float
    found_pairs: int
    true_pairs: int

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def evaluate_duplicates(result: DedupeResult, duplicate_of: Mapping[str, str] | pd.Series
                        ) -> DedupeQuality:
    """Compare found clusters with the truth: ``duplicate_of`` maps a duplicate's id to its
    original's id (the sample CRM's ground-truth ``duplicate_of``; missing = an original).

    Every pair of records in one cluster counts; precision = found pairs that are true,
    recall = true pairs found (scikit-learn's pair confusion matrix).
    """
    truth = pd.Series(duplicate_of).dropna().astype("str")
    ids = pd.Index(pd.concat([result.clusters["id"], pd.Series(truth.index),
                              truth]).unique())
    true_labels = truth.reindex(ids).fillna(pd.Series(ids, index=ids))
    found = result.clusters.set_index("id")["cluster"]
    found_labels = pd.Series(ids, index=ids).where(~ids.isin(found.index),
                                                   found.reindex(ids))
    matrix = pair_confusion_matrix(pd.factorize(true_labels)[0], pd.factorize(found_labels)[0])
    tp, fp, fn = matrix[1, 1], matrix[0, 1], matrix[1, 0]
    return DedupeQuality(precision=tp / (tp + fp) if tp + fp else 1.0,
                         recall=tp / (tp + fn) if tp + fn else 1.0,
                         found_pairs=int((tp + fp) // 2), true_pairs=int((tp + fn) // 2))
