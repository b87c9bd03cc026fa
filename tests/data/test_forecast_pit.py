"""Point in time: the pipeline and the whole forecast at t use only what was known before t."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.simulate import FitCache, fit_forecaster
from forecast.snapshot import (as_known_at, booked_to_date, convert_currency,
                               period_containing, pipeline_as_of)
from forecast.time_to_close import TimeToCloseModel
from crm import schema

T = pd.Timestamp("2025-03-11", tz="UTC")


def stamp(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def small_crm() -> dict[str, pd.DataFrame]:
    deals = pd.DataFrame([
        # open at T; later won (its current columns must never be read at T)
        {"opportunity_id": "LATE", "created_at": stamp("2025-02-01"), "stage": "won",
         "amount": 999.0, "outcome": "won", "closed_at": stamp("2025-03-20"),
         "expected_close_date": stamp("2025-03-20")},
        {"opportunity_id": "OPEN", "created_at": stamp("2025-02-10"), "stage": "proposal",
         "amount": 400.0, "outcome": "open", "closed_at": pd.NaT,
         "expected_close_date": stamp("2025-04-30")},
        {"opportunity_id": "BOOKED", "created_at": stamp("2025-01-05"), "stage": "won",
         "amount": 250.0, "outcome": "won", "closed_at": stamp("2025-03-02"),
         "expected_close_date": stamp("2025-03-02")},
        {"opportunity_id": "GONE", "created_at": stamp("2025-01-05"), "stage": "lost",
         "amount": 80.0, "outcome": "lost", "closed_at": stamp("2025-03-03"),
         "expected_close_date": stamp("2025-03-03")},
        {"opportunity_id": "NEW", "created_at": stamp("2025-03-11"), "stage": "prospecting",
         "amount": 70.0, "outcome": "open", "closed_at": pd.NaT,
         "expected_close_date": pd.NaT},
    ]).assign(currency="USD")
    history = pd.DataFrame([
        ("LATE", "prospecting", "2025-02-01", 100.0, "2025-02-28"),
        ("LATE", "proposal", "2025-02-15", 120.0, "2025-02-28"),
        ("LATE", "proposal", "2025-03-01", 120.0, "2025-03-31"),
        ("LATE", "negotiation", "2025-03-11", 150.0, "2025-03-31"),   # exactly at T: not known
        ("LATE", "won", "2025-03-20", 999.0, "2025-03-20"),
        ("OPEN", "prospecting", "2025-02-10", 300.0, "2025-03-31"),
        ("OPEN", "proposal", "2025-03-15", 400.0, "2025-04-30"),
        ("BOOKED", "proposal", "2025-01-05", 250.0, None),
        ("BOOKED", "won", "2025-03-02", 250.0, None),
        ("GONE", "proposal", "2025-01-05", 80.0, None),
        ("GONE", "lost", "2025-03-03", 80.0, None),
        ("NEW", "prospecting", "2025-03-11", 70.0, None),
    ], columns=["opportunity_id", "stage", "entered_at", "amount", "expected_close_date"])
    history["entered_at"] = pd.to_datetime(history["entered_at"], utc=True)
    history["expected_close_date"] = pd.to_datetime(history["expected_close_date"], utc=True)
    return {"opportunities": schema.split_valid("opportunities", deals)[0],
            "opportunity_stage_history": schema.split_valid("opportunity_stage_history",
                                                            history)[0]}


def test_deal_closed_after_t_is_open_with_its_state_at_t() -> None:
    snapshot = pipeline_as_of(small_crm(), T).set_index("opportunity_id")
    assert sorted(snapshot.index) == ["LATE", "OPEN"]   # BOOKED/GONE closed, NEW not yet created
    late = snapshot.loc["LATE"]
    assert (late["stage"], late["amount"]) == ("proposal", 120.0)
    assert late["expected_close_date"] == stamp("2025-03-31")
    assert (late["n_slips"], late["slip_days"], late["n_stage_changes"]) == (1, 31.0, 1)
    assert late["days_in_stage"] == 24.0 and late["age_days"] == 38.0
    assert late["days_to_expected_close"] == 20.0
    assert snapshot.loc["OPEN", "stage"] == "prospecting"


def test_booked_counts_only_wins_closed_before_t() -> None:
    tables = small_crm()
    assert booked_to_date(tables, T, period_containing(T)) == 250.0


def test_history_at_or_after_t_and_current_columns_change_nothing() -> None:
    tables = small_crm()
    before = pipeline_as_of(tables, T)
    changed = dict(tables)
    extra = pd.DataFrame({"opportunity_id": ["OPEN", "LATE", "OPEN"],
                          "stage": ["lost", "won", "negotiation"],
                          "entered_at": [T, T + pd.Timedelta(hours=1), T + pd.Timedelta(days=9)],
                          "amount": [1.0, 2.0, 3.0],
                          "expected_close_date": [T, T, T]})
    later_rows = tables["opportunity_stage_history"]["entered_at"] >= T
    edited = tables["opportunity_stage_history"].assign(
        amount=lambda h: h["amount"].where(~later_rows, 5.0),
        stage=lambda h: h["stage"].where(~later_rows, "edited"))
    changed["opportunity_stage_history"] = pd.concat([edited, extra.astype(edited.dtypes)],
                                                     ignore_index=True)
    opportunities = tables["opportunities"].copy()
    still_open = opportunities["opportunity_id"].isin(["LATE", "OPEN"])
    opportunities.loc[still_open, ["stage", "amount", "outcome"]] = ["lost", 1.0, "lost"]
    opportunities.loc[still_open, "closed_at"] = T + pd.Timedelta(days=3)
    changed["opportunities"] = opportunities
    pd.testing.assert_frame_equal(pipeline_as_of(changed, T), before)


@pytest.fixture(scope="module")
def crm() -> dict[str, pd.DataFrame]:
    from crm.sample import USD_JPY, GeneratorConfig, generate_crm

    tables, _ = generate_crm(GeneratorConfig(n_leads=6000, seed=11))
    return convert_currency(tables, {"USD": 1.0, "JPY": 1.0 / USD_JPY}, "USD")


@pytest.mark.parametrize("day", ["2026-02-01", "2026-06-17"])
def test_snapshot_equals_the_crm_as_it_was(crm: dict, day: str) -> None:
    t = pd.Timestamp(day, tz="UTC")
    full = pipeline_as_of(crm, t)
    assert len(full) > 20
    pd.testing.assert_frame_equal(full, pipeline_as_of(as_known_at(crm, t), t))


@pytest.mark.parametrize("freq", ["month", "quarter"])
def test_whole_forecast_equals_the_forecast_made_at_the_time(crm: dict, freq: str) -> None:
    """The combination with pace and history, its weights, the quarter composed from the month
    forecast and the calibrated interval included: everything after t (later closes, later stage moves) changes nothing."""
    t = pd.Timestamp("2026-06-17", tz="UTC")
    then = as_known_at(crm, t)
    small = TimeToCloseModel(max_rows=4000)   # every fit, the past periods' ones included
    caches = FitCache(crm, small), FitCache(then, small)
    for source in ("stage_rates", "time_to_close"):
        now, past = (fit_forecaster(cache.tables, t, source, cache).forecast(
            freq, n_simulations=500, seed=1) for cache in caches)
        assert now.method["n_past_periods"] >= 3 and now.method["spread_log_sd"] is not None
        # mid-quarter: the quarter composed from the month forecast is part of it
        assert (now.method["composed_rest"] is not None) == (freq == "quarter")
        assert now.method == past.method
        assert now.quantiles == past.quantiles
        assert now.expected == pytest.approx(past.expected, rel=1e-12)
        assert np.allclose(now.deals["p_close_in_period_if_won"],
                           past.deals["p_close_in_period_if_won"])


def test_combination_weights_do_not_move_when_the_period_ends_differently(crm: dict) -> None:
    """Doubling every win after t (this month's end and later months) leaves the forecast at t
    as it was: the weights are learned from periods that ended before t only."""
    t = pd.Timestamp("2026-06-17", tz="UTC")
    later = crm["opportunities"]["closed_at"] >= t
    changed = dict(crm)
    changed["opportunities"] = crm["opportunities"].assign(
        amount=crm["opportunities"]["amount"].where(~later, crm["opportunities"]["amount"] * 2))
    small = TimeToCloseModel(max_rows=4000)
    now, other = (fit_forecaster(tables, t, cache=FitCache(tables, small)).forecast(
        "month", n_simulations=500, seed=1) for tables in (crm, changed))
    assert now.method == other.method and now.quantiles == other.quantiles


def test_snapshot_agrees_with_the_win_model_features(crm: dict) -> None:
    from features.opportunity import build_opportunity_features
    from features.config import FeatureConfig

    same = {"stage": "opp_stage", "amount": "opp_amount", "age_days": "opp_age_days",
            "days_in_stage": "opp_days_in_stage", "n_slips": "opp_close_date_pushes",
            "n_stage_changes": "opp_stage_changes",
            "days_to_expected_close": "opp_days_to_expected_close"}
    for day in ("2025-09-01", "2026-06-17"):
        t = pd.Timestamp(day, tz="UTC")
        snapshot = pipeline_as_of(crm, t)
        features = build_opportunity_features(
            crm, snapshot[["opportunity_id"]].assign(as_of=t), FeatureConfig())
        assert snapshot["stage"].tolist() == features["opp_stage"].astype(str).tolist()
        for mine, theirs in same.items():
            if mine != "stage":
                assert np.allclose(snapshot[mine].astype(float), features[theirs].astype(float),
                                   equal_nan=True), mine


# ------------------------------------------------------------------------------------------
# Fits kept between runs (forecast.fitstore): keyed by what was known, so reuse is exact
# ------------------------------------------------------------------------------------------

def test_fingerprint_at_t_is_blind_to_everything_after_t(crm: dict) -> None:
    from forecast.fitstore import KnownAt

    t = pd.Timestamp("2026-06-17", tz="UTC")
    now, then = KnownAt(crm), KnownAt(as_known_at(crm, t))
    for moment in (t, pd.Timestamp("2026-06-01", tz="UTC"), pd.Timestamp("2025-11-01", tz="UTC")):
        assert now.fingerprint(moment) == then.fingerprint(moment)
    later = pd.Timestamp("2026-09-01", tz="UTC")
    assert now.fingerprint(later) != then.fingerprint(later)
    # a correction of something known at t (a win before t with another amount) is seen
    won = crm["opportunities"]["outcome"].eq("won") & (crm["opportunities"]["closed_at"] < t)
    first = crm["opportunities"].index[won][0]
    corrected = dict(crm, opportunities=crm["opportunities"].copy())
    corrected["opportunities"].loc[first, "amount"] += 1.0
    moved = dict(crm, opportunity_stage_history=crm["opportunity_stage_history"].copy())
    before_t = moved["opportunity_stage_history"].index[
        moved["opportunity_stage_history"]["entered_at"] < t]
    moved["opportunity_stage_history"].loc[before_t[0], "stage"] = "negotiation-edited"
    renamed = dict(crm, opportunities=crm["opportunities"].copy())
    created = renamed["opportunities"].index[renamed["opportunities"]["created_at"] < t]
    renamed["opportunities"].loc[created[0], "product"] = "another product"
    for edited in (corrected, moved, renamed):
        assert KnownAt(edited).fingerprint(t) != now.fingerprint(t)


def _counting_fits(monkeypatch) -> list:
    made = []
    fit = TimeToCloseModel.fit

    def counted(self, *args, **kwargs):
        made.append(args[1])
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(TimeToCloseModel, "fit", counted)
    return made


def test_the_next_day_reuses_stored_fits_and_forecasts_as_from_scratch(
        crm: dict, tmp_path, monkeypatch) -> None:
    """Yesterday's run (another process: a new store on the same folder) leaves fits that
    today's data (a day more of deals, closes and stage moves) reuses, and today's forecast
    is exactly the one made from scratch; a correction of the past makes it fit again."""
    from forecast.fitstore import FitStore

    small = TimeToCloseModel(max_rows=4000)
    yesterday, today = (pd.Timestamp(d, tz="UTC") for d in ("2026-06-16", "2026-06-17"))
    first = as_known_at(crm, yesterday)
    for freq in ("month", "quarter"):
        fit_forecaster(first, yesterday, cache=FitCache(first, small, FitStore(tmp_path))
                       ).forecast(freq, n_simulations=300, seed=1)
    made = _counting_fits(monkeypatch)
    current = as_known_at(crm, today)
    store = FitStore(tmp_path)
    stored = {freq: fit_forecaster(current, today, cache=FitCache(current, small, store))
              .forecast(freq, n_simulations=300, seed=1) for freq in ("month", "quarter")}
    assert made == [] and store.hits >= 10
    fresh = {freq: fit_forecaster(current, today, cache=FitCache(current, small))
             .forecast(freq, n_simulations=300, seed=1) for freq in ("month", "quarter")}
    assert len(made) >= 10   # from scratch: a fit per month
    for freq, mine in stored.items():
        assert mine.method == fresh[freq].method and mine.quantiles == fresh[freq].quantiles
    made.clear()
    won = current["opportunities"]["outcome"].eq("won")
    corrected = dict(current, opportunities=current["opportunities"].copy())
    corrected["opportunities"].loc[won, "amount"] *= 1.5
    fit_forecaster(corrected, today, cache=FitCache(corrected, small, FitStore(tmp_path))
                   ).forecast("month", n_simulations=300, seed=1)
    assert len(made) > 0
