"""``leadscore funnel | dedupe | plan | recycle``: the inside-sales leader's reports.

Each command reads the configured store (``crm.settings``), calls one ``reports`` function,
prints rich tables and optionally writes CSV files. ``register_report_commands(app)`` adds them
to the ``leadscore`` Typer app.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from crm.settings import Settings, sqlite_path
from leadscore.cli.common import (
    CurrencyOption,
    FxOption,
    parse_as_of,
    settings_for,
    to_reporting_currency,
)

console = Console(soft_wrap=True)  # sentences stay on one line (tables still fit the width)
logger = logging.getLogger(__name__)

DbOption = Annotated[Optional[str], typer.Option(
    "--db", help="SQLAlchemy URL (default: settings database_url).")]
AsOfOption = Annotated[Optional[str], typer.Option(
    "--as-of", help="Point in time: a date (through the end of that day) or an ISO time (no "
               "zone means UTC); default: the data's newest record.")]
OutOption = Annotated[Optional[Path], typer.Option(
    "--out", help="Folder to write the report's CSV files to.")]


def _read_tables(settings: Settings, names: list[str]) -> dict[str, pd.DataFrame]:
    from crm.store import CRMStore

    return CRMStore(settings.database_url).read_tables(names)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, pd.Timestamp):
        return str(value.date())
    if isinstance(value, float):
        whole = value.is_integer() or abs(value) >= 100
        return f"{value:,.0f}" if whole else f"{value:.2f}"
    return str(value)


def print_frame(title: str, frame: pd.DataFrame, percent: tuple[str, ...] = (),
                index: bool = True) -> None:
    """Print a frame as a rich table; columns named in ``percent`` as percentages."""
    table = Table(title=title)
    shown = frame.reset_index() if index else frame
    for column in shown.columns:
        numeric = pd.api.types.is_numeric_dtype(shown[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in shown.itertuples(index=False):
        table.add_row(*(f"{v:.0%}" if c in percent and isinstance(v, float) and v == v
                        else _cell(v) for c, v in zip(shown.columns, row)))
    console.print(table)


def _write(out: Path | None, frames: dict[str, pd.DataFrame]) -> None:
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(out / f"{name}.csv", index=frame.index.name is not None)
    console.print(f"written {', '.join(f'{n}.csv' for n in frames)} to {out}/")


def _fail(error: Exception) -> None:
    console.print(f"[red]{error}[/red]", highlight=False)
    raise typer.Exit(1)


# --- funnel ----------------------------------------------------------------------------------

_STAGE_LABELS = {"entered": "in", "next_stage": "next", "conversion": "conv",
                 "last_conversion": "last", "history_conversion": "history",
                 "change_vs_last": "Δ last", "change_vs_history": "Δ history",
                 "z_vs_history": "z", "median_days_to_next": "days"}
_SHORT_STAGES = {"lead": "lead", "mql": "mql", "sql": "sql", "opportunity": "opp", "won": "won"}


def _short(column: str) -> str:
    parts = column.split("→")
    return "→".join(_SHORT_STAGES.get(p, p) for p in parts)


def funnel(
    period: Annotated[Optional[str], typer.Option(
        help="Period to report, e.g. 2026-09 (default: the newest data's period).")] = None,
    freq: Annotated[str, typer.Option(help="Period length: M, Q or W.")] = "M",
    as_of: AsOfOption = None,
    history: Annotated[int, typer.Option(min=1, help="Previous periods as history.")] = 6,
    min_entries: Annotated[int, typer.Option(
        min=1, help="Entries a stage needs to be named the bottleneck.")] = 10,
    out: OutOption = None,
    db: DbOption = None,
) -> None:
    """Conversion per stage, source and owner; time in stage; the bottleneck stage."""
    from reports.funnel import build_funnel
    from reports.stages import latest_time

    cut = parse_as_of(as_of, day="end")
    tables = _read_tables(settings_for(db), ["leads", "opportunities"])
    try:
        when = cut or latest_time(tables)
        report = build_funnel(tables, period or pd.Period(when.tz_localize(None), freq),
                              freq=freq, as_of=cut, history_periods=history,
                              min_entries=min_entries)
    except ValueError as error:
        _fail(error)
    stages = report.stages.rename(columns=_STAGE_LABELS).assign(
        next=lambda f: f["next"].map(_SHORT_STAGES))
    print_frame(f"Funnel {report.period} as of {report.as_of:%Y-%m-%d %H:%M} UTC", stages,
                percent=("conv", "last", "history", "Δ last", "Δ history"))
    console.print(report.describe_bottleneck(), highlight=False)
    for title, frame in (("By source", report.by_source), ("By owner", report.by_owner)):
        short = frame.rename(columns=_short)
        print_frame(title, short, percent=tuple(c for c in short.columns if "→" in c))
    _write(out, {"funnel_stages": report.stages, "funnel_by_source": report.by_source,
                 "funnel_by_owner": report.by_owner, "funnel_history": report.history})


# --- dedupe ----------------------------------------------------------------------------------

def _print_dedupe(result) -> None:
    from reports.dedupe import DUPLICATE_RATE_TARGET

    verdict = "[green]met[/green]" if result.meets_target else "[red]not met[/red]"
    console.print(f"{result.entity}: {result.records:,} records, "
                  f"{int(result.pairs['match'].sum()):,} matching pairs, duplicate rate "
                  f"{result.duplicate_rate:.2%} (target ≤ {DUPLICATE_RATE_TARGET:.0%}: "
                  f"{verdict})")


def dedupe(
    threshold: Annotated[float, typer.Option(min=0.01, max=1.0,
                                             help="Match score threshold.")] = 0.85,
    out: Annotated[Path, typer.Option(help="Merge suggestion CSV.")] = Path(
        "merge_suggestions.csv"),
    truth: Annotated[Optional[Path], typer.Option(
        help="Ground-truth parquet with lead_id, duplicate_of (default: "
             "data_dir/ground_truth.parquet when it exists).")] = None,
    show: Annotated[int, typer.Option(min=0, help="Merge suggestions to print.")] = 15,
    db: DbOption = None,
) -> None:
    """名寄せ: duplicate leads and accounts, the duplicate rate vs 5%, a merge suggestion file."""
    from reports.dedupe import evaluate_duplicates, find_duplicate_accounts, find_duplicate_leads

    settings = settings_for(db)
    tables = _read_tables(settings, ["leads", "accounts"])
    leads = find_duplicate_leads(tables["leads"], threshold=threshold)
    accounts = find_duplicate_accounts(tables["accounts"], tables["leads"], threshold=threshold)
    for result in (leads, accounts):
        _print_dedupe(result)
    suggestions = pd.concat([r.merge_suggestions().assign(entity=r.entity)
                             for r in (leads, accounts)], ignore_index=True)
    print_frame("Merge suggestions (first rows)",
                suggestions[["entity", "keep_id", "merge_id", "score", "reasons"]].head(show),
                index=False)
    suggestions.to_csv(out, index=False)
    console.print(f"{len(suggestions):,} merge suggestions written to {out}")
    truth = truth or settings.data_dir / "ground_truth.parquet"
    if truth.is_file():
        known = pd.read_parquet(truth, columns=["lead_id", "duplicate_of"])
        quality = evaluate_duplicates(leads, known.set_index("lead_id")["duplicate_of"])
        console.print(f"against the planted duplicates in {truth}: precision "
                      f"{quality.precision:.3f}, recall {quality.recall:.3f} "
                      f"({quality.found_pairs:,} pairs found, {quality.true_pairs:,} true)")


# --- plan ------------------------------------------------------------------------------------

def plan(
    revenue_target: Annotated[float, typer.Option(
        "--revenue-target", min=0.01, help="The month's revenue target.")],
    month: Annotated[str, typer.Option(help="Planned month, e.g. 2026-10.")],
    as_of: AsOfOption = None,
    window_months: Annotated[int, typer.Option(
        min=1, help="Months before the planned month to measure the rates on.")] = 6,
    currency: CurrencyOption = None,
    fx: FxOption = None,
    out: OutOption = None,
    db: DbOption = None,
) -> None:
    """KPI reverse plan: wins, deals, SQLs, MQLs, leads and calls the target needs, and the
    gap to the month so far, in the reporting currency (--currency / --fx, else the settings',
    as forecast does)."""
    from reports.plan import build_kpi_plan

    cut = parse_as_of(as_of, day="end")
    settings = settings_for(db)
    tables, _ = to_reporting_currency(
        _read_tables(settings, ["leads", "opportunities", "activities",
                                "opportunity_stage_history"]), settings, currency, fx)
    try:
        kpi = build_kpi_plan(tables, revenue_target, month, as_of=cut,
                             window_months=window_months)
    except ValueError as error:
        _fail(error)
    rates = pd.DataFrame({"measured": kpi.rates}).rename_axis("rate")
    print_frame(f"Rates measured {kpi.window[0]:%Y-%m} .. {kpi.window[1] - pd.Timedelta(days=1):%Y-%m}",
                rates)
    print_frame(f"KPI plan {kpi.month}: {kpi.revenue_target:,.0f} {kpi.currency}; actuals as of "
                f"{kpi.as_of:%Y-%m-%d} ({kpi.elapsed:.0%} of the month)", kpi.table)
    _write(out, {"kpi_plan": kpi.table, "kpi_rates": rates})


# --- recycle ---------------------------------------------------------------------------------

def _champion_scorer(settings: Settings):
    """The champion SQL model's scorer, or None (with the reason printed) to use the rules."""
    from reports.recycle import model_scorer
    from training.bundle import load_bundle

    uri = f"models:/{settings.sql_model_name}@champion"
    tracking = settings.mlflow_tracking_uri
    store = sqlite_path(tracking)
    if store is not None and not store.exists():
        console.print(f"no MLflow registry at {tracking}: ranking by the rules score")
        return None, "rules"
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    try:
        bundle = load_bundle(uri, tracking_uri=settings.mlflow_tracking_uri)
    except Exception as error:  # noqa: BLE001 - any registry failure means: use the rules
        console.print(f"no champion model ({type(error).__name__}): ranking by the rules score")
        return None, "rules"
    return model_scorer(bundle), uri


def recycle(
    as_of: AsOfOption = None,
    top: Annotated[int, typer.Option(min=1, help="Candidates to print.")] = 20,
    lookback_days: Annotated[int, typer.Option(min=1, help="Score rise over this many days.")
                             ] = 30,
    horizon_days: Annotated[int, typer.Option(
        min=1, help="Days after being held a lead may requalify to count.")] = 180,
    use_model: Annotated[bool, typer.Option(
        "--model/--rules", help="Rank by the champion model (when there is one) or rules.")
    ] = True,
    out: OutOption = None,
    db: DbOption = None,
) -> None:
    """Lost and held leads whose score rose, ranked; the re-engagement rate vs 10%."""
    from reports.recycle import REENGAGEMENT_TARGET, build_recycle_report

    cut = parse_as_of(as_of, day="end")
    settings = settings_for(db)
    tables = _read_tables(settings, ["leads", "opportunities", "activities", "accounts"])
    scorer, source = _champion_scorer(settings) if use_model else (None, "rules")
    try:
        report = build_recycle_report(tables, as_of=cut, score=scorer,
                                      score_source=source, lookback_days=lookback_days,
                                      horizon_days=horizon_days)
    except ValueError as error:
        _fail(error)
    print_frame(f"{len(report.candidates):,} of {report.held:,} held leads rose "
                f"(score: {report.score_source}, as of {report.as_of:%Y-%m-%d})",
                report.candidates.head(top), index=False)
    verdict = "[green]met[/green]" if report.meets_target else "[red]not met[/red]"
    console.print(f"re-engagement: {report.requalified:,} of {report.cohort:,} recycled leads "
                  f"requalified within {horizon_days} days ({report.requalified_rate:.1%}; "
                  f"target ≥ {REENGAGEMENT_TARGET:.0%}: {verdict}); "
                  f"{report.reengaged_rate:.1%} showed high intent again")
    _write(out, {"recycle_candidates": report.candidates})


def register_report_commands(app: typer.Typer) -> None:
    """Add ``funnel``, ``dedupe``, ``plan`` and ``recycle`` to ``app``."""
    for command in (funnel, dedupe, plan, recycle):
        app.command()(command)
