"""``--as-of`` and ``?as_of=``: one parser for every command and page (``crm.timestamps``,
``leadscore.cli.common.parse_as_of``). No zone means UTC; a zone is converted; a bad value is
refused with the option and the value named, before the command reads anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from crm.timestamps import as_utc, parse_utc, to_utc, to_utc_series
from leadscore.cli import app
from leadscore.cli.common import parse_as_of

ROOT = Path(__file__).resolve().parents[2]
UTC = "UTC"


@pytest.mark.parametrize(("text", "day", "expected"), [
    ("2026-10-15T09:30", None, pd.Timestamp("2026-10-15 09:30", tz=UTC)),        # naive = UTC
    ("2026-10-15T18:30+09:00", None, pd.Timestamp("2026-10-15 09:30", tz=UTC)),  # converted
    ("2026-10-15", None, pd.Timestamp("2026-10-15", tz=UTC)),                    # day start
    ("2026-10-16T01:00+09:00", "start", pd.Timestamp("2026-10-15", tz=UTC)),     # its UTC day
    ("2026-10-15T23:59", "start", pd.Timestamp("2026-10-15", tz=UTC)),
    ("2026-09-30", "end", pd.Timestamp("2026-09-30 23:59:59.999999", tz=UTC)),   # whole day
    ("2026-09-30T12:00Z", "end", pd.Timestamp("2026-09-30 12:00", tz=UTC)),      # time kept
    (None, None, None),
    (None, "end", None),
])
def test_as_of_is_read_as_utc(text: str | None, day: str | None,
                              expected: pd.Timestamp | None) -> None:
    parsed = parse_as_of(text, day=day)
    assert parsed == expected
    if parsed is not None:
        assert str(parsed.tz) == UTC


def test_the_end_of_a_day_stays_on_that_day_month_and_quarter() -> None:
    end = parse_as_of("2026-09-30", day="end")
    assert end.date().isoformat() == "2026-09-30"
    assert str(pd.Period(end.tz_localize(None), "M")) == "2026-09"
    assert pd.Timestamp("2026-09-30 23:59:59", tz=UTC) <= end < pd.Timestamp("2026-10-01",
                                                                               tz=UTC)


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-10-15T09:30", pd.Timestamp("2026-10-15 09:30", tz=UTC)),
    ("2026-10-15T18:30+09:00", pd.Timestamp("2026-10-15 09:30", tz=UTC)),
    (pd.Timestamp("2026-10-15 09:30"), pd.Timestamp("2026-10-15 09:30", tz=UTC)),
    (pd.Timestamp("2026-10-15 05:30", tz="America/New_York"),
     pd.Timestamp("2026-10-15 09:30", tz=UTC)),
    ("soon", pd.NaT), ("", pd.NaT), (None, pd.NaT), (float("nan"), pd.NaT),
])
def test_one_value_no_zone_means_utc_and_not_a_time_is_nat(value: object,
                                                            expected: pd.Timestamp) -> None:
    stamp = to_utc(value)
    if expected is pd.NaT:
        assert stamp is pd.NaT
        with pytest.raises(ValueError, match="start: .* is not a date or time"):
            parse_utc(value, "start")
    else:
        assert stamp == expected and str(stamp.tz) == UTC
        assert parse_utc(value, "start") == stamp
        assert as_utc(pd.Timestamp(value)) == stamp


def test_many_values_follow_the_same_rule_as_one() -> None:
    values = pd.Series(["2026-10-15T09:30", "2026-10-15T18:30+09:00", None],
                       index=[7, 8, 9], dtype=object)
    stamps = to_utc_series(values, format="ISO8601")
    assert stamps.dtype == pd.DatetimeTZDtype("us", UTC)
    assert list(stamps.index) == [7, 8, 9]
    assert stamps.iloc[:2].tolist() == [to_utc(v) for v in values.iloc[:2]]
    assert stamps.iloc[2] is pd.NaT
    from_list = to_utc_series([pd.Timestamp("2026-10-15 09:30"), "2026-10-15T09:30Z"])
    assert list(from_list.index) == [0, 1] and from_list.nunique() == 1
    with pytest.raises(ValueError):
        to_utc_series(["2026-10-15", "soon"], format="ISO8601")


@pytest.mark.parametrize("text", ["soon", "2026-13-01", "", "15/31/2026"])
@pytest.mark.parametrize("option", ["--as-of", "--as-of-end"])
def test_a_bad_value_names_the_option_and_the_value(text: str, option: str) -> None:
    with pytest.raises(typer.BadParameter) as caught:
        parse_as_of(text, option)
    message = caught.value.format_message()
    assert f"Invalid value for {option}: {text!r} is not a date or time" in message


@pytest.mark.parametrize("args", [
    ["score", "--out", "scores.csv", "--as-of", "soon"],
    ["train", "sql", "--as-of-end", "soon"],
    ["promote", "sql", "--as-of-end", "soon"],
    ["drift", "--as-of", "soon"],
    ["forecast", "--as-of", "soon"],
    ["funnel", "--as-of", "soon"],
    ["plan", "--revenue-target", "1000", "--month", "2026-10", "--as-of", "soon"],
    ["recycle", "--as-of", "soon"],
])
def test_every_command_refuses_a_bad_as_of_before_reading_anything(
        args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "no-such-store.db"
    result = CliRunner().invoke(app, [*args, "--db", f"sqlite:///{missing}"],
                                terminal_width=200)
    assert result.exit_code == 2, result.output
    option = next(a for a in args if a.startswith("--as-of"))
    assert f"Invalid value for {option}: 'soon' is not a date or time" in result.output
    assert not missing.exists() and not (tmp_path / "mlruns").exists()


def test_the_cli_parses_as_of_without_importing_the_web_pages() -> None:
    code = ("import sys\n"
            "from leadscore.cli import app\n"
            "from leadscore.cli.common import parse_as_of\n"
            "parse_as_of('2026-10-15', day='start'); parse_as_of('2026-10-15', day='end')\n"
            "print(' '.join(m for m in ('serving.ui', 'serving.ui.routes', 'fastapi', 'jinja2',"
            " 'bentoml') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
