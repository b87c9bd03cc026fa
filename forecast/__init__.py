"""Month- and quarter-end landing forecasts of closed-won revenue, and their backtest.

``forecast_landing(tables, as_of)`` gives the landing distribution of the month (or quarter)
containing ``as_of``: booked to date + open pipeline (P(win) x P(closes in time | won), from a
censoring-aware time-to-close hazard model) + deals not created yet (run-rate by day of period),
by Monte Carlo. ``run_backtest`` replays past months point in time against the stage-weighted
pipeline and a naive run-rate. Importing the package has no side effects.
"""

from forecast.backtest import (BacktestConfig, backtest_months, format_summary, log_backtest,
                               run_backtest, summarize_backtest)
from forecast.baselines import (StageWinRates, fit_stage_win_rates, forecast_in_month_pace,
                                forecast_naive_run_rate, forecast_same_day_history,
                                forecast_stage_weighted)
from forecast.fitstore import FitStore
from forecast.simulate import (FitCache, Forecaster, LandingForecast, fit_forecaster,
                               forecast_landing, simulate_landing)
from forecast.snapshot import (Period, convert_currency, period_containing, pipeline_as_of,
                               to_as_of)
from forecast.time_to_close import TimeToCloseModel, TimeToCloseWinProbability

__all__ = [
    "BacktestConfig", "FitCache", "FitStore", "Forecaster", "LandingForecast", "Period", "StageWinRates",
    "TimeToCloseModel", "TimeToCloseWinProbability", "backtest_months", "convert_currency",
    "fit_forecaster", "fit_stage_win_rates", "forecast_in_month_pace", "forecast_landing",
    "forecast_naive_run_rate", "forecast_same_day_history",
    "format_summary",
    "forecast_stage_weighted", "log_backtest", "period_containing", "pipeline_as_of",
    "run_backtest", "simulate_landing", "summarize_backtest", "to_as_of",
]
