"""Keys and names made from text: JSON keys from column names, account keys from company names."""

from __future__ import annotations

import re
import unicodedata


def snake_case(name: str) -> str:
    """``Total Time Spent`` / ``TotalVisits`` -> ``total_time_spent`` / ``total_visits``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"\W+", "_", spaced).strip("_").lower()


def slugify(text: str) -> str | None:
    """A stable key from a name: NFKC, lower case, runs of non-word characters -> '-'."""
    slug = re.sub(r"[\W_]+", "-", unicodedata.normalize("NFKC", text).lower()).strip("-")
    return slug or None
