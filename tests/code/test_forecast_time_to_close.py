"""Time to close: censoring, competing risks (won / lost), and the errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.snapshot import pipeline_as_of
from forecast.time_to_close import TimeToCloseModel, TimeToCloseWinProbability

START = pd.Timestamp("2025-01-01", tz="UTC")


def youngest_open_deal(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> pd.DataFrame:
    snapshot = pipeline_as_of(tables, as_of)
    return snapshot.nsmallest(1, "age_days").reset_index(drop=True)


def test_open_deals_are_censored_not_counted_as_never_closing(daily_deals) -> None:
    tables = daily_deals(200, won_after=30, lost_after=None)
    as_of = START + pd.Timedelta(days=200)
    opportunities = tables["opportunities"]
    closed_share = (opportunities["closed_at"] < as_of).mean()
    assert closed_share == pytest.approx(0.85)  # the last 30 deals are still open
    model = TimeToCloseModel(min_closes=0).fit(tables, as_of)
    deal = youngest_open_deal(tables, as_of)
    assert deal["age_days"].iloc[0] == 1.0
    incidence = model.predict_incidence(deal, 40)
    assert incidence.won_ever[0] > 0.95 > closed_share
    assert incidence.won[0, 20] < 0.05          # nothing closes before age 30
    assert incidence.won[0, 35] > 0.95          # and by age 36 nearly everything has
    assert incidence.close_probability_given_won(40)[0] > 0.95


def test_won_and_lost_are_competing_risks(daily_deals) -> None:
    tables = daily_deals(240, won_after=30, lost_after=10)
    as_of = START + pd.Timedelta(days=240)
    model = TimeToCloseModel().fit(tables, as_of)
    deal = youngest_open_deal(tables, as_of)
    incidence = model.predict_incidence(deal, 60)
    assert 0.4 < incidence.won_ever[0] < 0.6
    assert 0.4 < incidence.lost[0, 20] < 0.6
    assert incidence.close_probability_given_won(20)[0] < 0.05
    assert incidence.close_probability_given_won(40)[0] > 0.9
    assert TimeToCloseWinProbability(model)(deal)[0] == pytest.approx(incidence.won_ever[0])
    shares = incidence.daily_won_share(40)
    assert shares.sum() == pytest.approx(1.0)
    assert shares[0].argmax() == 29  # a 1-day-old deal is won on day 29 after as_of, at age 30


def test_too_few_closes_is_named(daily_deals) -> None:
    tables = daily_deals(60, won_after=30, lost_after=10)
    # weekly landmarks back from as_of stop at the first close (Jan 11): Jan 12 is the first;
    # won closes between then and as_of are those on days 30-58, 15 deals
    with pytest.raises(ValueError, match="only 15 deals closed won between 2025-01-12 and "
                                         "2025-03-02; time-to-close needs at least 20"):
        TimeToCloseModel(landmark_every_days=7).fit(tables, START + pd.Timedelta(days=60))


def test_no_history_before_as_of_is_named(daily_deals) -> None:
    tables = daily_deals(60, won_after=30, lost_after=10)
    with pytest.raises(ValueError, match="no history before as_of 2025-01-05"):
        TimeToCloseModel().fit(tables, START + pd.Timedelta(days=4))


def test_predict_before_fit_is_an_error(daily_deals) -> None:
    tables = daily_deals(10, won_after=30, lost_after=10)
    with pytest.raises(RuntimeError, match="TimeToCloseModel is not fitted"):
        TimeToCloseModel().predict_incidence(pipeline_as_of(tables, START + pd.Timedelta(5)), 5)


def test_fit_is_reproducible(daily_deals) -> None:
    tables = daily_deals(240, won_after=30, lost_after=10)
    as_of = START + pd.Timedelta(days=240)
    snapshot = pipeline_as_of(tables, as_of)
    first = TimeToCloseModel(max_rows=500).fit(tables, as_of).predict_incidence(snapshot, 30)
    again = TimeToCloseModel(max_rows=500).fit(tables, as_of).predict_incidence(snapshot, 30)
    assert np.array_equal(first.won, again.won)


def test_merging_identical_training_rows_changes_no_coefficient() -> None:
    """Identical (row, outcome) pairs merged into one row of their summed weight: the same
    weighted likelihood and total weight, so the same fit on far fewer rows."""
    from sklearn.linear_model import LogisticRegression

    from forecast.time_to_close import _collapse, _sparse_design

    rng = np.random.default_rng(7)
    n = 4000
    groups = [(rng.integers(0, 4, n), 4), (rng.integers(0, 3, n), 3)]
    numeric = [np.where(rng.random(n) < 0.5, 0.0, 1.5)]
    outcome = rng.choice([0, 1, 2], n, p=[0.8, 0.15, 0.05])
    weights = np.where(outcome == 0, 3.0, 1.0)
    weights = weights / weights.mean()
    design, merged_weights, merged_outcome = _collapse(groups, numeric, weights, outcome)
    assert design.shape[0] < 100 and merged_weights.sum() == pytest.approx(n)
    for cause in (1, 2):
        fits = [LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-10).fit(
            x, (y == cause).astype(int), sample_weight=w) for x, y, w in (
            (_sparse_design(groups, numeric), outcome, weights),
            (design, merged_outcome, merged_weights))]
        assert np.allclose(fits[0].coef_, fits[1].coef_, atol=1e-8)
        assert np.allclose(fits[0].intercept_, fits[1].intercept_, atol=1e-8)
