"""The sample CRM: a synthetic B2B CRM whose hidden ground truth is known exactly.

``generate_crm(GeneratorConfig(...))`` returns the five canonical tables (every one passes
``schema.validate_table``) and a ground-truth frame per lead (ICP fit, seniority, latent
interest, true 90-day SQL probability, duplicate-of). ``describe_ground_truth()`` documents the
generating story and its equations in Markdown; ``summarize_crm`` gives headline numbers.

How it stays deterministic and fast:

* Accounts and the lead population (firmographics, people, ground truth, created_at) are drawn
  in one vectorised pass each, from their own ``SeedSequence(seed, spawn_key=...)`` streams.
* Everything that happens to a lead afterwards (activities, calls, status, deals) is simulated
  per chunk of ``chunk_size`` leads. Randomness comes from one generator per block of
  ``RNG_BLOCK_LEADS`` leads and every draw is split by block, so the output does not depend on
  ``chunk_size``: it only bounds the working memory and sets how often ``progress`` is called.
* Internally times are float64 days since the Unix epoch (``inf`` = never happens); they become
  ``datetime64[us, UTC]`` only when the tables are assembled. Anything later than
  ``config.end`` is censored (missing, or the event is absent).

The package, by responsibility: ``config`` (what to generate), ``story`` (the parameters and
the ICP rule), ``streams`` (random draws), ``calendar`` (time), ``words`` / ``names`` /
``strings`` (JA/EN names, titles, e-mails), ``vocabulary`` (codes and JSON texts),
``accounts`` / ``leads`` (the population and its ground truth), ``events`` / ``sales`` /
``deals`` / ``simulate`` (what happens to each lead), ``tables`` (canonical frames),
``generate`` (the driver), ``summary`` and ``describe`` (headline numbers, the Markdown story).
"""

from crm.sample.config import DEFAULT_END, GeneratorConfig
from crm.sample.describe import describe_ground_truth
from crm.sample.generate import generate_crm
from crm.sample.story import USD_JPY, icp_fit
from crm.sample.streams import RNG_BLOCK_LEADS
from crm.sample.summary import Tables, summarize_crm

__all__ = [
    "DEFAULT_END",
    "RNG_BLOCK_LEADS",
    "USD_JPY",
    "GeneratorConfig",
    "Tables",
    "describe_ground_truth",
    "generate_crm",
    "icp_fit",
    "summarize_crm",
]
