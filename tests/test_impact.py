"""Impact evidence for "this output should move that KPI": hand-checkable cases, then simulations.

The weekly fixture: weeks start on Mondays from 2024-01-01; the output is delivered on the
Wednesday of week 40 with a 14-day lag, so weeks 0-39 are the pre-period, weeks 40-42 the
transition (the delivery week and the two weeks up to the Wednesday the effect starts) and the
post window is weeks 43-54. The simulations (run with ``pytest -s`` to see the rates) are the
acceptance test: detection of a 2-sigma effect, false "moved" verdicts and interval coverage.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reviewkit import QueryError
from reviewkit.config import Metric
from reviewkit.evidence import counterfactual, estimator
from reviewkit.evidence.counterfactual import t_quantile
from reviewkit.evidence.estimator import (
    CONFOUNDED,
    DID,
    ITS,
    NOT_ENOUGH,
    VERDICTS,
    Change,
    ImpactResult,
    KnownEvent,
    estimate_impact,
    measure_links,
    rollup,
)
from reviewkit.metrics.catalogue import difference_text

START = dt.date(2024, 1, 1)  # a Monday
PRE, TRANSITION, POST = 40, 3, 12
CHANGE = START + dt.timedelta(weeks=PRE, days=2)  # Wednesday 2024-10-09
LAG = 14
FIRST_POST = START + dt.timedelta(weeks=PRE + TRANSITION)  # Monday 2024-10-28
ASSOCIATION = "evidence of association, not proof"


def weekly(values: np.ndarray | list[float], start: dt.date = START) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period_start": [start + dt.timedelta(weeks=i) for i in range(len(values))],
            "value": np.asarray(values, dtype=float),
        }
    )


def shifted(shift: float, *, noise: float = 0.0, seed: int = 1, base: float = 10.0) -> np.ndarray:
    """Flat ``base`` (plus white noise), ``shift`` higher from the first post week on."""
    rng = np.random.default_rng(seed)
    values = base + rng.normal(0.0, noise, PRE + TRANSITION + POST) if noise else np.full(55, base)
    values[PRE + TRANSITION :] += shift
    return values


def impact(
    values: np.ndarray | list[float],
    *,
    change_date: dt.date = CHANGE,
    lag_days: int = LAG,
    expected: str = "increase",
    **options: Any,
) -> ImpactResult:
    """The weekly fixture's analysis (delivery in week 40, 14-day lag) unless told otherwise."""
    return estimate_impact(
        weekly(values), change_date=change_date, lag_days=lag_days, expected=expected, **options
    )


# --- hand-checkable cases ------------------------------------------------------------------


def test_clean_level_shift_is_measured_exactly() -> None:
    result = impact(shifted(5.0))
    assert result.verdict == "moved as hypothesised"
    assert result.method == ITS
    assert result.estimate == pytest.approx(5.0)
    assert result.low == pytest.approx(5.0) and result.high == pytest.approx(5.0)
    assert result.relative == pytest.approx(0.5)  # 5 over a counterfactual of 10
    assert (result.pre_periods, result.post_periods) == (PRE, POST)
    assert result.effective == dt.date(2024, 10, 23)
    assert result.its == (result.estimate, result.low, result.high)
    assert result.did is None


def test_noisy_level_shift_interval_contains_the_shift() -> None:
    result = impact(shifted(5.0, noise=1.0))
    assert result.verdict == "moved as hypothesised"
    assert result.low is not None and result.high is not None and result.estimate is not None
    assert result.low < 5.0 < result.high
    assert result.estimate == pytest.approx(5.0, abs=1.0)
    assert 0.5 < result.high - result.low < 4.0  # a real interval, not a point
    sentence = result.sentence
    assert sentence.startswith("The KPI was ")
    assert "higher than its pre-period trend predicted over the 12 weeks" in sentence
    assert "from 2024-10-28 to 2025-01-19 (90% interval" in sentence
    assert "delivery on 2024-10-09 plus the expected 14-day lag" in sentence
    assert "the 3 weeks in between are left out" in sentence
    assert "40 weeks with data out of the 104 weeks before delivery" in sentence
    assert "yearly seasonality" in sentence  # not modelled with under a year of history: said so
    assert ASSOCIATION in sentence


def test_shift_against_the_expected_direction() -> None:
    result = impact(shifted(5.0, noise=1.0), expected="decrease")
    assert result.verdict == "moved the other way"
    assert "opposite direction to the expected decrease" in result.sentence
    down = impact(shifted(-5.0, noise=1.0), expected="decrease")
    assert down.verdict == "moved as hypothesised"
    assert down.estimate is not None and down.estimate == pytest.approx(-5.0, abs=1.0)
    assert "lower than its pre-period trend" in down.sentence


def test_no_shift_is_no_detectable_change() -> None:
    result = impact(shifted(0.0, noise=1.0))
    assert result.verdict == "no detectable change"
    assert result.low is not None and result.high is not None
    assert result.low < 0 < result.high
    assert "includes zero" in result.sentence and ASSOCIATION in result.sentence


def test_too_early_before_change_plus_lag() -> None:
    result = impact(shifted(5.0), as_of=CHANGE + dt.timedelta(days=LAG - 1))
    assert result.verdict == "too early"
    assert (result.estimate, result.low, result.high, result.its, result.did) == (None,) * 5
    assert result.post_periods == 0
    # four complete weeks from the first Monday on or after 2024-10-23: through 2024-11-24
    assert "it can be judged once the data through 2024-11-24 is complete" in result.sentence
    assert "none yet" in result.sentence and ASSOCIATION in result.sentence
    frame = result.series
    assert set(frame["phase"]) == {"pre", "lag"}  # later weeks are not complete yet
    assert frame["counterfactual"].notna().all()  # the chart still shows the projection


def test_too_early_with_fewer_than_four_post_weeks() -> None:
    as_of = FIRST_POST + dt.timedelta(weeks=2, days=-1)  # two complete post weeks
    result = impact(shifted(5.0), as_of=as_of)
    assert result.verdict == "too early"
    assert result.post_periods == 2
    assert "(2 so far)" in result.sentence
    assert "through 2024-11-24 is complete" in result.sentence


def test_interim_reading_inside_the_post_window() -> None:
    as_of = FIRST_POST + dt.timedelta(weeks=6, days=2)  # six complete weeks, the 7th partial
    result = impact(shifted(5.0, noise=1.0), as_of=as_of)
    assert result.verdict == "moved as hypothesised"
    assert result.post_periods == 6
    assert "interim reading: the window runs to 2025-01-19" in result.sentence
    assert result.series["period_start"].max() == FIRST_POST + dt.timedelta(weeks=5)


def test_three_pre_points_is_not_enough_data() -> None:
    values = shifted(5.0, noise=1.0)
    values[: PRE - 3] = np.nan
    result = impact(values)
    assert result.verdict == "not enough data"
    assert result.pre_periods == 3
    assert (result.estimate, result.its, result.relative) == (None, None, None)
    assert "3 weeks with data before delivery on 2024-10-09; at least 8" in result.sentence
    assert ASSOCIATION in result.sentence
    assert result.series["counterfactual"].isna().all()


def test_a_window_too_sparse_to_fill_is_not_enough_data() -> None:
    values = shifted(5.0, noise=1.0)
    post = np.arange(PRE + TRANSITION, PRE + TRANSITION + POST)
    values[post[post % 4 != 0]] = np.nan  # reported once every four weeks: 3 of 12 post weeks
    result = impact(values)
    assert result.verdict == "not enough data"
    assert (result.pre_periods, result.post_periods) == (PRE, 3)
    assert "only 3 of the 12 weeks from 2024-10-28 to 2025-01-19 have data" in result.sentence
    assert "use a coarser grain" in result.sentence and ASSOCIATION in result.sentence
    # while the window is still filling, the same gaps are only "too early"
    early = impact(values, as_of=FIRST_POST + dt.timedelta(weeks=6, days=-1))
    assert early.verdict == "too early"


@pytest.mark.parametrize(
    ("change", "lag", "transition", "left_out"),
    [
        (START + dt.timedelta(weeks=PRE), 0, 0, "lag)"),
        (START + dt.timedelta(weeks=PRE), 7, 1, "lag; the week in between is left out)"),
        (CHANGE, LAG, 3, "lag; the 3 weeks in between are left out)"),
    ],
)
def test_transition_weeks(change: dt.date, lag: int, transition: int, left_out: str) -> None:
    """Delivered on a Monday: the effect week itself is the first post week when the lag is 0."""
    result = impact(shifted(0.0, noise=1.0), change_date=change, lag_days=lag)
    assert f"plus the expected {lag}-day {left_out}" in result.sentence
    assert result.series["phase"].value_counts().get("lag", 0) == transition
    assert result.pre_periods == PRE


def test_missing_periods_are_skipped() -> None:
    values = shifted(5.0, noise=1.0)
    values[[5, 6, 20, PRE + TRANSITION + 2]] = np.nan
    values[30] = np.inf  # a rate over zero: missing, not a value
    result = impact(values)
    assert (result.pre_periods, result.post_periods) == (PRE - 4, POST - 1)
    assert result.verdict == "moved as hypothesised"
    assert result.estimate is not None and result.estimate == pytest.approx(5.0, abs=1.0)
    assert result.series["actual"].isna().sum() == 5  # still charted, as gaps
    assert "the 11 weeks with data from 2024-10-28 to 2025-01-19" in result.sentence


def test_a_trend_is_not_mistaken_for_an_effect() -> None:
    rng = np.random.default_rng(7)
    values = 10 + 0.2 * np.arange(55) + rng.normal(0, 0.5, 55)
    naive = values[PRE + TRANSITION :].mean() - values[:PRE].mean()
    assert naive > 5  # before/after would call this a big increase
    result = impact(values)
    assert result.verdict == "no detectable change"
    assert result.estimate is not None and abs(result.estimate) < 0.5


def test_phases_and_chart_columns() -> None:
    values = np.concatenate([shifted(5.0), np.full(4, 15.0)])  # four weeks after the window
    frame = impact(values).series
    assert list(frame.columns) == [
        "period_start",
        "actual",
        "counterfactual",
        "low",
        "high",
        "phase",
    ]
    assert frame["phase"].value_counts().to_dict() == {"pre": 40, "post": 12, "after": 4, "lag": 3}
    assert frame["period_start"].iloc[0] == START
    assert frame["counterfactual"].to_numpy() == pytest.approx(np.full(59, 10.0))
    assert (frame["low"] <= frame["counterfactual"]).all()
    assert (frame["counterfactual"] <= frame["high"]).all()


def test_pre_window_limits_the_history_used() -> None:
    rng = np.random.default_rng(3)
    values = shifted(5.0, noise=1.0)
    values[:20] += 30 + rng.normal(0, 1, 20)  # an old regime, outside a 20-week window
    result = impact(values, pre_window=20, post_window=6)
    assert (result.pre_periods, result.post_periods) == (20, 6)
    assert result.estimate is not None and result.estimate == pytest.approx(5.0, abs=1.5)
    assert result.series["phase"].value_counts()["after"] == 6
    assert "up to 6 weeks; counterfactual: 20 weeks with data out of the 20 weeks" in (
        result.sentence
    )


def test_a_small_effect_reads_in_the_kpis_unit_not_as_zero() -> None:
    rng = np.random.default_rng(11)
    rates = 0.38 + rng.normal(0, 0.00001, 55)
    rates[PRE + TRANSITION :] += 0.0004  # +0.04 pp
    metric = Metric(name="activation", label="Activation rate", format="percent")
    result = impact(rates, name=metric.label, unit_text=lambda d: difference_text(metric, d))
    assert result.sentence.startswith("Activation rate was 0.04 pp higher than"), result.sentence
    assert re.search(r"\(90% interval 0\.0[1-9]\d* pp to 0\.0[1-9]\d* pp\)", result.sentence)


def test_unit_text_and_name_in_the_sentence() -> None:
    rng = np.random.default_rng(11)
    rates = 0.38 + rng.normal(0, 0.01, 55)
    rates[PRE + TRANSITION :] += 0.06
    result = impact(
        rates, name="activation rate", unit_text=lambda d: f"{d * 100:.1f} pp", level=0.95
    )
    assert result.verdict == "moved as hypothesised"
    assert result.sentence.startswith("Activation rate was 6.")
    assert " pp higher than its pre-period trend predicted" in result.sentence
    assert "(95% interval 5." in result.sentence
    assert result.relative is not None and result.relative == pytest.approx(0.06 / 0.38, rel=0.2)


def test_dates_may_be_timestamps() -> None:
    """Dates taken from a DataFrame row arrive as pandas Timestamps."""
    result = impact(
        shifted(5.0), change_date=pd.Timestamp(CHANGE), as_of=pd.Timestamp("2030-01-01")
    )
    assert result.effective == dt.date(2024, 10, 23)
    assert type(result.effective) is dt.date
    assert result.verdict == "moved as hypothesised"


def test_relative_change_needs_a_positive_baseline() -> None:
    result = impact(shifted(5.0, noise=1.0, base=-20.0))
    assert result.verdict == "moved as hypothesised"
    assert result.relative is None


def test_yearly_seasonality_is_modelled_with_enough_history() -> None:
    rng = np.random.default_rng(5)
    weeks = np.arange(170)
    values = 20 + 4 * np.sin(2 * np.pi * weeks / (365.25 / 7)) + rng.normal(0, 0.5, 170)
    change = START + dt.timedelta(weeks=150, days=2)
    result = impact(values, change_date=change)
    assert result.verdict == "no detectable change"
    assert "its pre-period trend and yearly seasonality predicted" in result.sentence
    assert result.pre_periods == 104
    values[153:] += 2.0
    moved = impact(values, change_date=change)
    assert moved.verdict == "moved as hypothesised"
    assert moved.estimate is not None and moved.estimate == pytest.approx(2.0, abs=0.6)


def test_monthly_grain() -> None:
    rng = np.random.default_rng(2)
    months = pd.date_range("2022-01-01", periods=36, freq="MS").date
    values = 100 + 6 * np.cos(2 * np.pi * np.arange(36) / 12) + rng.normal(0, 1, 36)
    values[26:] += 8  # March 2024 on; delivery mid-January with a 30-day lag
    frame = pd.DataFrame({"period_start": months, "value": values})
    result = estimate_impact(
        frame, change_date=dt.date(2024, 1, 15), lag_days=30, expected="increase", grain="month"
    )
    assert result.verdict == "moved as hypothesised"
    assert (result.pre_periods, result.post_periods) == (24, 6)
    assert result.estimate is not None and result.estimate == pytest.approx(8, abs=3)
    assert result.series["phase"].value_counts()["lag"] == 2  # January and February 2024
    assert "6 months with data from 2024-03-01 to 2024-08-31" in result.sentence
    assert "yearly seasonality predicted" in result.sentence


def test_daily_grain_models_the_weekday() -> None:
    rng = np.random.default_rng(4)
    days = [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(160)]
    weekend = np.array([day.weekday() >= 5 for day in days])
    values = 50 - 8 * weekend + rng.normal(0, 1, 160)
    frame = pd.DataFrame({"period_start": days, "value": values})
    change = dt.date(2025, 4, 15)
    result = estimate_impact(
        frame, change_date=change, lag_days=7, expected="increase", grain="day"
    )
    assert result.verdict == "no detectable change"
    assert "weekday seasonality" in result.sentence
    values[days.index(dt.date(2025, 4, 22)) :] += 2
    moved = estimate_impact(
        frame.assign(value=values), change_date=change, lag_days=7, expected="increase", grain="day"
    )
    assert moved.verdict == "moved as hypothesised"
    assert moved.post_periods == 28
    assert moved.estimate is not None and moved.estimate == pytest.approx(2, abs=0.7)


# --- difference in differences ------------------------------------------------------------


def panel(own_effect: float, shock: float, *, seed: int = 9) -> tuple[np.ndarray, pd.DataFrame]:
    """Treated series and three controls at different levels; ``shock`` hits all of them from
    the first post week, ``own_effect`` only the treated one."""
    rng = np.random.default_rng(seed)
    n = PRE + TRANSITION + POST
    common = np.zeros(n)
    common[PRE + TRANSITION :] = shock
    treated = 10 + common + rng.normal(0, 0.5, n)
    treated[PRE + TRANSITION :] += own_effect
    rows = [
        {"period_start": START + dt.timedelta(weeks=i), "group": group, "value": level + value}
        for group, level in (("north", 8.0), ("south", 12.0), ("west", 9.0))
        for i, value in enumerate(common + rng.normal(0, 0.5, n))
    ]
    return treated, pd.DataFrame(rows)


def test_did_removes_a_common_shock() -> None:
    treated, controls = panel(own_effect=0.0, shock=5.0)
    naive = treated[PRE + TRANSITION :].mean() - treated[:PRE].mean()
    assert naive > 4  # before/after (and the trend alone) see the shock as an effect
    result = impact(treated, controls=controls)
    assert result.method == DID
    assert result.verdict == "no detectable change"
    assert result.its is not None and result.its[1] > 3  # ITS interval excludes zero
    assert result.did == (result.estimate, result.low, result.high)
    assert result.estimate is not None and abs(result.estimate) < 0.6
    assert "the other segments weighted to follow it before delivery (" in result.sentence
    assert "and its pre-period gap to them predicted" in result.sentence
    assert "The trend alone (interrupted time series, without the controls) gives" in (
        result.sentence
    )
    assert 'would read "moved as hypothesised"' in result.sentence
    assert ASSOCIATION in result.sentence
    frame = result.series
    assert frame["control"].iloc[0] == pytest.approx(29 / 3, abs=1)
    post = frame[frame["phase"] == "post"]
    assert post["counterfactual"].mean() == pytest.approx(post["actual"].mean(), abs=0.6)


def test_did_measures_the_treated_segment_only() -> None:
    treated, controls = panel(own_effect=3.0, shock=5.0)
    result = impact(treated, controls=controls)
    assert result.method == DID
    assert result.verdict == "moved as hypothesised"
    assert result.estimate is not None and result.estimate == pytest.approx(3.0, abs=0.6)
    assert result.its is not None and result.its[0] == pytest.approx(8.0, abs=0.6)
    assert "The trend alone" not in result.sentence  # both say "moved": no disagreement


def test_did_scales_the_comparison_when_segments_move_by_shares() -> None:
    """Segments of different sizes hit by the same shares (a company-wide +10% before delivery,
    +20% after it, as a price change would): the plain difference keeps the part of the shock
    the bigger segment gets on top (about 0.2 * (400 - 200) = 40) and reads it as an effect;
    the comparison scaled to the treated segment's size cancels it, and the sentence says so.
    Segments that move by amounts keep the plain difference (the cases above)."""
    rng = np.random.default_rng(4)
    n = PRE + TRANSITION + POST
    share = np.ones(n)
    share[15:] *= 1.10
    share[PRE + TRANSITION :] *= 1.20
    treated = 400 * share * (1 + rng.normal(0, 0.01, n))
    levels = {"north": 150.0, "south": 250.0, "west": 200.0}
    rows = [
        {"period_start": START + dt.timedelta(weeks=i), "group": group, "value": value}
        for group, level in levels.items()
        for i, value in enumerate(level * share * (1 + rng.normal(0, 0.01, n)))
    ]
    controls = pd.DataFrame(rows)
    result = impact(treated, controls=controls)
    assert result.method == DID
    assert result.verdict == "no detectable change"
    assert result.estimate is not None and abs(result.estimate) < 6
    # by hand: the plain weighted difference moves by the shock's share of the size gap
    weights = dict(result.comparison)
    plain = sum(
        weight * controls[controls["group"] == group]["value"].to_numpy()
        for group, weight in weights.items()
    )
    gap = treated - plain
    naive = gap[PRE + TRANSITION :].mean() - gap[15:PRE].mean()
    assert naive > 30
    pre_plain = plain[:PRE]
    assert result.comparison_scale == pytest.approx(treated[:PRE].mean() / pre_plain.mean())
    assert f"times {result.comparison_scale:.3g} to its size, as they move by shares" in (
        result.sentence
    )
    assert result.series["control"].iloc[0] == pytest.approx(plain[0] * result.comparison_scale)


def test_did_keeps_the_plain_difference_when_segments_move_by_amounts() -> None:
    treated, controls = panel(own_effect=0.0, shock=5.0)
    result = impact(treated, controls=controls)
    assert result.comparison_scale == 1.0
    assert "to its size" not in result.sentence


def test_an_event_in_a_control_segment_leaves_it_out_of_the_comparison() -> None:
    """A step in one control segment only (an outage there) moves the comparison, and the
    treated segment reads as having moved against it; recorded as that segment's event, the
    segment is left out of the comparison (and of the placebos), and the sentence says why."""
    treated, controls = panel(own_effect=0.0, shock=0.0)
    north = controls["group"] == "north"
    after = controls["period_start"] >= FIRST_POST
    controls.loc[north & after, "value"] += 6.0
    plain = impact(treated, controls=controls)
    assert plain.method == DID and "north" in dict(plain.comparison)
    assert plain.estimate is not None and plain.estimate < -1  # north's step, read as an effect
    outage = KnownEvent("North outage", FIRST_POST, group="north")
    result = impact(treated, controls=controls, events=[outage])
    assert result.method == DID and "north" not in dict(result.comparison)
    assert result.comparison and set(dict(result.comparison)) <= {"south", "west"}
    assert result.verdict == "no detectable change"
    assert result.estimate is not None and abs(result.estimate) < 0.6
    assert result.confounded_by is None  # the treated segment's KPI did not see it
    assert (
        f"Left out of the comparison for an event recorded there during these windows: "
        f"north: North outage ({FIRST_POST})." in result.sentence
    )
    # an event of that segment long before the windows changes nothing
    early = KnownEvent("North outage", START - dt.timedelta(days=400), group="north")
    assert impact(treated, controls=controls, events=[early]).comparison == plain.comparison


def test_controls_without_complete_periods_fall_back_to_its() -> None:
    treated, controls = panel(own_effect=3.0, shock=0.0)
    gappy = controls[(controls["group"] != "west") | (controls["period_start"] > CHANGE)]
    result = impact(treated, controls=gappy)
    assert result.method == ITS
    assert result.did is None
    assert "control groups lack enough periods" in result.sentence
    assert "control" in result.series.columns


# --- calibration: shifts, placebos, the comparison, events, many links, power --------------


def plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """The estimator as it was: no level shifts looked for (before delivery or in the effect
    window), no placebos."""
    monkeypatch.setattr(counterfactual, "MAX_SHIFTS", 0)
    monkeypatch.setattr(estimator, "MAX_PLACEBOS", 0)
    monkeypatch.setattr(estimator, "later_shift", lambda *args: None)


#: A year of history before delivery (week 60) and half a year after, as reviews measure links
LONG = {"change_date": START + dt.timedelta(weeks=60, days=2), "pre_window": 52, "post_window": 26}


def pre_shift() -> np.ndarray:
    """Flat 10 with noise, 2 higher from week 25 (35 weeks before delivery) on, nothing else."""
    values = 10 + np.random.default_rng(2).normal(0, 0.5, 90)
    values[25:] += 2.0
    return values


def test_a_pre_period_shift_is_modelled_not_projected_as_a_trend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The trend fitted through a shift tilts upwards, so a flat post-period reads as a fall."""
    result = impact(pre_shift(), expected="decrease", **LONG)
    assert result.verdict == "no detectable change"
    assert result.shifts == (START + dt.timedelta(weeks=25),)
    assert "The level shifted on 2024-06-24 before delivery" in result.sentence
    assert result.estimate is not None and abs(result.estimate) < 0.5
    with monkeypatch.context() as patch:
        plain(patch)
        assert impact(pre_shift(), expected="decrease", **LONG).verdict == "moved as hypothesised"
    # the placebos alone refuse it too: at earlier dates the same trend model moved more than
    # its noise explains (without the later shifts, which stop its drift in each window)
    monkeypatch.setattr(counterfactual, "MAX_SHIFTS", 0)
    monkeypatch.setattr(estimator, "later_shift", lambda *args: None)
    calibrated = impact(pre_shift(), expected="decrease", **LONG)
    assert calibrated.verdict == "no detectable change"
    assert calibrated.calibration > 1.2 and calibrated.placebos >= 3
    assert "times as wide as the noise alone would make it" in calibrated.sentence


def later_step(effect: float, step: float) -> np.ndarray:
    """Flat 10 with noise, ``effect`` higher from the first post week (63) on and ``step``
    more from week 73 on, ten weeks into the 26-week effect window."""
    values = 10 + np.random.default_rng(4).normal(0, 0.5, 89)
    values[63:] += effect
    values[73:] += step
    return values


@pytest.mark.parametrize("effect", [0.0, 2.0])
def test_a_step_long_after_the_lag_is_not_read_as_the_effect(
    effect: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step ten weeks into the effect window, unrelated to the output, is left out: the
    effect is measured before it (an effect at the expected time is still found, the step not
    added to it), the sentence says so and the chart's effect window stops there."""
    result = impact(later_step(effect, 2.0), **LONG)
    assert result.estimate is not None and result.low is not None and result.high is not None
    assert result.low < effect < result.high
    assert result.verdict == ("moved as hypothesised" if effect else "no detectable change")
    assert result.post_periods == 10
    step_day = START + dt.timedelta(weeks=73)
    assert f"The KPI stepped again from {step_day}, 10 weeks into the effect window" in (
        result.sentence
    )
    assert "over the 10 weeks with data from" in result.sentence
    phases = result.series.set_index("period_start")["phase"]
    assert phases[START + dt.timedelta(weeks=72)] == "post" and phases[step_day] == "after"
    # measured over the whole window, 16 of its 26 weeks carry the step: about 1.23 more
    monkeypatch.setattr(estimator, "later_shift", lambda *args: None)
    whole = impact(later_step(effect, 2.0), **LONG)
    assert whole.estimate is not None and whole.estimate > effect + 1.0


def test_an_interval_spans_the_reading_the_data_did_not_choose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the data chose the model (a window ended at a later step, a pre-period shift
    modelled), the choice is not a free look: the interval spans the other choice's reading
    too, while the estimate stays the chosen one's (benchmark 8: planted effects were covered
    69-74% of the time where a window was ended, 55-87% where a shift was modelled)."""
    ended = impact(later_step(0.0, 2.0), **LONG)
    shifted = impact(pre_shift(), expected="decrease", **LONG)
    with monkeypatch.context() as patch:
        patch.setattr(estimator, "later_shift", lambda *args: None)
        whole = impact(later_step(0.0, 2.0), **LONG)
    assert ended.post_periods == 10 and whole.post_periods == 26
    assert ended.calibration == whole.calibration == 1.0  # the placebos showed nothing either way
    assert ended.high == pytest.approx(whole.high)  # the whole window's reading, 16 weeks stepped
    assert ended.low <= whole.low and abs(ended.estimate) < 0.1 < whole.estimate - 1
    assert ended.verdict == "no detectable change"
    monkeypatch.setattr(counterfactual, "MAX_SHIFTS", 0)
    plain = impact(pre_shift(), expected="decrease", **LONG)
    assert shifted.shifts and not plain.shifts
    # the tilted trend's reading (a fall of about 1.35) lies inside the modelled shift's interval
    assert shifted.low < plain.estimate < -1 < shifted.estimate < shifted.high


def test_a_later_step_names_the_link_whose_effect_it_more_likely_is() -> None:
    """Measured together, the first link stops at the step ten weeks into its window and names
    the second link, whose effect is expected there; the second one moved."""
    first = Change(LONG["change_date"], LAG, "increase", label="WEB-1")
    second = Change(START + dt.timedelta(weeks=71), LAG, "increase", label="WEB-2")
    results = measure_links(
        weekly(later_step(0.0, 2.0)), [first, second], pre_window=52, post_window=26
    )
    step_day = START + dt.timedelta(weeks=73)
    assert results[1].effective == step_day and results[1].verdict == "moved as hypothesised"
    assert results[0].verdict == "no detectable change"
    assert (results[0].later_shift, results[0].stepped_with) == (step_day, ("WEB-2",))
    assert results[0].sentence.endswith(
        "The effect of WEB-2 is expected around that later step: the step is more likely that"
        " output's."
    )
    assert results[1].stepped_with == ()


def test_a_calm_kpi_keeps_its_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    result = impact(shifted(5.0, noise=1.0))
    assert result.calibration < 1.3 and result.placebos >= 3
    assert result.verdict == "moved as hypothesised"
    monkeypatch.setattr(estimator, "MAX_PLACEBOS", 0)
    alone = impact(shifted(5.0, noise=1.0))
    assert (alone.calibration, alone.placebos) == (1.0, 0)
    assert result.high - result.low == pytest.approx(
        (alone.high - alone.low) * result.calibration, rel=1e-6
    )


def test_benjamini_hochberg_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04, 0.20; times 4 / rank: 0.04, 0.06, 0.0533, 0.20; then the
    # running minimum from the largest down
    adjusted = estimator._benjamini_hochberg([0.01, 0.04, 0.03, 0.20])
    assert adjusted == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])


@pytest.mark.parametrize(
    ("p_values", "q_values", "verdicts"),
    [
        ([0.02, 0.03, 0.5, 0.6], [0.06, 0.06, 0.6, 0.6], ["moved as hypothesised"] * 2),
        ([0.04, 0.09, 0.5, 0.6], [0.16, 0.18, 0.6, 0.6], ["no detectable change"] * 2),
    ],
)
def test_many_links_keep_only_moves_that_survive_the_false_discovery_rate(
    p_values: list[float], q_values: list[float], verdicts: list[str]
) -> None:
    moved = impact(shifted(5.0, noise=1.0))
    calm = impact(shifted(0.0, noise=1.0))
    results = [replace(moved, p_value=p) for p in p_values[:2]]
    results += [replace(calm, p_value=p) for p in p_values[2:]]
    results.append(impact(shifted(5.0), as_of=CHANGE))  # too early: not tested
    adjusted = estimator.adjust_for_many(results, 0.10)
    assert [r.q_value for r in adjusted[:4]] == pytest.approx(q_values)
    assert [r.tested for r in adjusted[:4]] == [4] * 4
    assert adjusted[4].q_value is None and adjusted[4].verdict == "too early"
    assert [r.verdict for r in adjusted[:2]] == verdicts
    if verdicts[0] != moved.verdict:
        assert "4 links of this outcome were measured together" in adjusted[0].sentence
        assert "Benjamini-Hochberg; adjusted p-value 0.16" in adjusted[0].sentence


def test_measure_links_measures_an_outcomes_links_together() -> None:
    values = shifted(5.0, noise=1.0)
    changes = [
        Change(CHANGE, LAG, "increase"),
        Change(CHANGE - dt.timedelta(weeks=12), LAG, "decrease", size=0.1),
        Change(CHANGE + dt.timedelta(weeks=20), LAG, "increase"),
    ]
    results = measure_links(weekly(values), changes)
    assert [r.verdict for r in results] == [
        "moved as hypothesised",
        "no detectable change",
        "too early",  # delivered after the data ends
    ]
    assert [r.tested for r in results[:2]] == [2, 2]
    assert results[0].q_value is not None and results[0].q_value <= 0.1
    assert results[1].mde is not None and results[1].mde > 0.1
    assert "The hypothesis expects 0.100: too small to see" in results[1].sentence


def test_links_whose_effects_share_a_window_say_so() -> None:
    """One step in the KPI, two links delivered a week apart: both "move", and each says the
    other's effect falls in its window; a link measured before the step shares nothing."""
    values = shifted(5.0, noise=1.0)
    changes = [
        Change(CHANGE, LAG, "increase", label="A-1"),
        Change(CHANGE + dt.timedelta(weeks=1), 7, "increase", label="B-2"),
        Change(CHANGE - dt.timedelta(weeks=20), LAG, "increase", label="C-3"),
    ]
    first, second, early = measure_links(weekly(values), changes)
    assert (first.verdict, second.verdict) == ("moved as hypothesised",) * 2
    assert (first.shared_with, second.shared_with) == (("B-2",), ("A-1",))
    assert "The effect of B-2, which moved the KPI too, is expected inside this window" in (
        first.sentence
    )
    assert early.shared_with == ()


def test_the_minimum_detectable_effect_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the noise taken as white (phi 0) the effect's standard error is the textbook one,
    ``sigma * sqrt(1/m + x' (X'X)^-1 x)`` with ``sigma^2 = RSS / (n - 2)``, ``X`` the pre-period's
    level and trend and ``x`` their mean over the post weeks; the MDE is
    ``(t_0.95 + t_0.80) * se`` at the interval's degrees of freedom."""
    monkeypatch.setattr(counterfactual, "_ar1", lambda *args: 0.0)
    monkeypatch.setattr(estimator, "MAX_PLACEBOS", 0)
    monkeypatch.setattr(counterfactual, "MAX_SHIFTS", 0)
    values = 10 + 0.05 * np.arange(55) + np.random.default_rng(5).normal(0, 1, 55)
    result = impact(values)
    pre = np.arange(PRE, dtype=float)
    post = np.arange(PRE + TRANSITION, PRE + TRANSITION + POST, dtype=float)
    design = np.column_stack([np.ones(PRE), pre])
    beta, rss, *_ = np.linalg.lstsq(design, values[:PRE], rcond=None)
    sigma = math.sqrt(float(rss[0]) / (PRE - 2))
    mean_row = np.array([1.0, post.mean()])
    error = sigma * math.sqrt(1 / POST + mean_row @ np.linalg.inv(design.T @ design) @ mean_row)
    estimate = float(
        np.mean(values[PRE + TRANSITION :] - np.column_stack([np.ones(POST), post]) @ beta)
    )
    assert result.estimate == pytest.approx(estimate)
    assert result.low is not None and result.high is not None and result.mde is not None
    half = (result.high - result.low) / 2
    df = _solve_df(half / error)
    assert result.mde == pytest.approx(error * (t_quantile(0.95, df) + t_quantile(0.8, df)))
    early = impact(values, as_of=CHANGE)  # the same window, before any of it is in
    assert early.verdict == "too early" and early.mde == pytest.approx(result.mde)
    assert "the full window detects a change of" in early.sentence


def _solve_df(quantile: float) -> float:
    """The degrees of freedom at which the t distribution's 95% quantile is ``quantile``."""
    low, high = 3.0, 1e6
    assert t_quantile(0.95, high) <= quantile <= t_quantile(0.95, low)
    for _ in range(200):
        middle = math.sqrt(low * high)
        low, high = (middle, high) if t_quantile(0.95, middle) > quantile else (low, middle)
    return low


def test_the_comparison_follows_the_treated_segment() -> None:
    """Treated = 70% of north's movements + 30% of south's: the weights find the mix (pulled a
    little towards the plain mean), west gets little, and they sum to one."""
    rng = np.random.default_rng(4)
    n = PRE + TRANSITION + POST
    north, south, west = (np.cumsum(rng.normal(0, 1, n)) for _ in range(3))
    treated = 50 + 0.7 * north + 0.3 * south + rng.normal(0, 0.2, n)
    controls = pd.concat(
        weekly(level + series).assign(group=group)
        for group, level, series in (("north", 20, north), ("south", 30, south), ("west", 40, west))
    )
    result = impact(treated, controls=controls)
    weights = dict(result.comparison)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights["north"] > weights["south"] > weights.get("west", 0.0)
    assert weights["north"] == pytest.approx(0.7, abs=0.15)
    assert "the other segments weighted to follow it before delivery (north " in result.sentence
    assert result.verdict == "no detectable change"


def test_a_recorded_event_confounds_a_move_in_its_window() -> None:
    sale = KnownEvent("Spring sale", CHANGE + dt.timedelta(weeks=5), CHANGE + dt.timedelta(weeks=6))
    result = impact(shifted(5.0, noise=1.0), events=[sale])
    assert result.verdict == CONFOUNDED
    assert result.confounded_by == "Spring sale (2024-11-13 to 2024-11-20)"
    assert "Confounded: Spring sale (2024-11-13 to 2024-11-20) fell inside" in result.sentence
    calm = impact(shifted(0.0, noise=1.0), events=[sale])
    assert calm.verdict == "no detectable change"
    assert "Note: Spring sale" in calm.sentence
    later = KnownEvent("Price change", FIRST_POST + dt.timedelta(weeks=30))
    assert impact(shifted(5.0, noise=1.0), events=[later]).verdict == "moved as hypothesised"


def test_a_recorded_event_in_the_pre_period_is_a_known_shift() -> None:
    """A price change 35 weeks before delivery: modelled as a step at its date, not looked for."""
    price = KnownEvent("Price change", START + dt.timedelta(weeks=25))
    result = impact(pre_shift(), expected="decrease", events=[price], **LONG)
    assert result.verdict == "no detectable change"
    assert result.shifts == ()  # known, not found
    assert "The level shifted on 2024-06-24 before delivery (or a recorded event" in (
        result.sentence
    )
    assert result.confounded_by is None


# --- inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"expected": "up"}, "expected must be 'increase' or 'decrease'"),
        ({"grain": "quarter"}, "unknown grain 'quarter'"),
        ({"lag_days": -1}, "lag_days must be 0 or more"),
        ({"level": 1.5}, "level must be between 0 and 1"),
        ({"pre_window": 0}, "pre_window must be at least one period"),
    ],
)
def test_bad_arguments(options: dict[str, Any], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        impact(shifted(5.0), **options)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (weekly([1.0] * 10).drop(columns="value"), "missing column"),
        (pd.concat([weekly([1.0] * 10)] * 2), "period_start repeats"),
        (
            weekly([1.0] * 10).assign(
                period_start=lambda f: f["period_start"].where(f.index != 3, dt.date(2024, 1, 23))
            ),
            "not on the week grid",
        ),
        (weekly([1.0] * 10).assign(value="a"), "must be numeric"),
    ],
)
def test_bad_series(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        estimate_impact(frame, change_date=CHANGE, lag_days=LAG, expected="increase")


def test_a_kpi_without_any_period_yet_is_not_enough_data() -> None:
    """A team with no rows in the KPI's source yet (a new team, a new export): its links are
    "not enough data", with or without the other teams as controls, never an error."""
    empty = weekly([1.0] * 10).iloc[:0]
    controls = weekly([2.0] * 20).assign(group="other")
    for given in (None, controls):
        result = estimate_impact(
            empty, change_date=CHANGE, lag_days=LAG, expected="increase", controls=given
        )
        assert result.verdict == NOT_ENOUGH
        assert (result.pre_periods, result.post_periods) == (0, 0)
        assert result.series.empty


def test_monthly_periods_start_on_the_first() -> None:
    frame = pd.DataFrame({"period_start": [dt.date(2024, m, 15) for m in range(1, 13)]})
    with pytest.raises(QueryError, match="not the first of a month"):
        estimate_impact(
            frame.assign(value=1.0),
            change_date=dt.date(2024, 6, 1),
            lag_days=0,
            expected="increase",
            grain="month",
        )


def test_rollup_counts_every_verdict() -> None:
    results = [
        impact(shifted(5.0)),
        impact(shifted(5.0, noise=1.0)),
        impact(shifted(0.0, noise=1.0)),
        impact(shifted(5.0), as_of=CHANGE),
    ]
    assert rollup(results) == {
        "moved as hypothesised": 2,
        "no detectable change": 1,
        "moved the other way": 0,
        "confounded by an event": 0,
        "too early": 1,
        "not enough data": 0,
    }
    assert list(rollup([])) == list(VERDICTS)


@pytest.mark.parametrize(
    ("probability", "df", "exact"),
    [(0.95, 3, 2.353363), (0.975, 5, 2.570582), (0.95, 10, 1.812461), (0.995, 30, 2.749996)],
)
def test_t_quantile_without_scipy(probability: float, df: int, exact: float) -> None:
    assert t_quantile(probability, df) == pytest.approx(exact, rel=0.005)


# --- simulation: the acceptance criterion -------------------------------------------------

YEAR_IN_WEEKS = 365.25 / 7
REPS = 120


def ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """AR(1) noise with marginal standard deviation 1 (stationary from the first value)."""
    noise = np.empty(n)
    noise[0] = rng.normal()
    shocks = rng.normal(0.0, np.sqrt(1 - phi**2), n)
    for i in range(1, n):
        noise[i] = phi * noise[i - 1] + shocks[i]
    return noise


def simulated_week_series(
    rng: np.random.Generator, effect: float, season: float, skew: float, phi: float = 0.3
) -> tuple[pd.DataFrame, dt.date]:
    """60-100 pre weeks, the 3-week transition, 12 post weeks: level + random trend + a yearly
    sine of amplitude ``season`` and its second harmonic at ``skew`` times that (random phases)
    + AR(1) noise of standard deviation 1; ``effect`` is added from the first post week."""
    pre = int(rng.integers(60, 101))
    n = pre + TRANSITION + POST
    year = 2 * np.pi * np.arange(n) / YEAR_IN_WEEKS
    values = (
        50
        + rng.normal(0, 0.02) * np.arange(n)
        + season * np.sin(year + rng.uniform(0, 2 * np.pi))
        + skew * season * np.sin(2 * year + rng.uniform(0, 2 * np.pi))
        + ar1(rng, n, phi)
    )
    values[pre + TRANSITION :] += effect
    return weekly(values), START + dt.timedelta(weeks=pre, days=2)


Simulation = Callable[[np.random.Generator, float], tuple[ImpactResult, float]]


def rates(simulate: Simulation, effect: float, seed: int) -> dict[str, float]:
    """Shares of "moved" verdicts each way and of intervals covering the (ITS or DiD) truth."""
    rng = np.random.default_rng(seed)
    counts = {"up": 0, "down": 0, "covered": 0}
    for _ in range(REPS):
        result, truth = simulate(rng, effect)
        assert result.low is not None and result.high is not None
        counts["up"] += result.verdict == "moved as hypothesised"
        counts["down"] += result.verdict == "moved the other way"
        counts["covered"] += result.low <= truth <= result.high
    return {key: count / REPS for key, count in counts.items()}


def report(title: str, with_effect: dict[str, float], without: dict[str, float]) -> None:
    print(
        f"\n{title}, {REPS} series each: 2-sd effect detected {with_effect['up']:.1%}"
        f" (wrong way {with_effect['down']:.1%}); no effect: moved up {without['up']:.1%},"
        f" down {without['down']:.1%}; 90% interval coverage {with_effect['covered']:.1%}"
        f" with effect, {without['covered']:.1%} without"
    )


@pytest.mark.parametrize(
    ("season", "skew", "detection"),
    [(0.0, 0.0, 0.80), (1.0, 0.0, 0.75), (1.0, 0.4, 0.55)],
    ids=["no seasonality", "yearly sine", "skewed year"],
)
@pytest.mark.slow  # hundreds of simulated series
def test_simulated_its_detection_false_positives_and_coverage(
    season: float, skew: float, detection: float
) -> None:
    """The acceptance criterion. A pure yearly sine lies in the span of the one harmonic fitted
    to 1-2 years of history; a skewed year (a second harmonic the model cannot fit yet) keeps
    the interval honest but costs detection, asserted more loosely. The placebos widen the
    interval where the season's misfit looks like unrelated moves, which is what costs the
    seasonal cases detection (79% and 61% of 160 series, from 89% and 81% before the placebos);
    benchmarks/impact_calibration.py measures the trade on simulated companies."""
    started = time.perf_counter()

    def simulate(rng: np.random.Generator, effect: float) -> tuple[ImpactResult, float]:
        frame, change = simulated_week_series(rng, effect, season, skew)
        result = estimate_impact(frame, change_date=change, lag_days=LAG, expected="increase")
        return result, effect

    seed = int(10 * season + 100 * skew)
    with_effect = rates(simulate, 2.0, seed=seed)
    without = rates(simulate, 0.0, seed=seed + 1)
    title = f"ITS, yearly amplitude {season:g} sd (second harmonic {skew:.0%}), AR(1) phi 0.3"
    report(f"{title} ({time.perf_counter() - started:.1f} s)", with_effect, without)
    assert with_effect["up"] >= detection
    assert without["up"] + without["down"] <= 0.10
    for outcome in (with_effect, without):
        # the placebos read the season's misfit as unrelated moves and widen the interval:
        # conservative with seasonality (97-98% coverage), not useless
        assert 0.80 <= outcome["covered"] <= 0.99


@pytest.mark.slow  # hundreds of simulated series
def test_simulated_did_with_common_shocks_and_seasonality() -> None:
    """Treated segment and three controls share a yearly cycle and weekly shocks; under a year of
    history, so the trend alone cannot model the season. Each segment's own noise is AR(1) with
    standard deviation 1; the effect is twice that."""
    started = time.perf_counter()
    naive_moved = 0

    def simulate(rng: np.random.Generator, effect: float) -> tuple[ImpactResult, float]:
        nonlocal naive_moved
        pre = int(rng.integers(30, 51))
        n = pre + TRANSITION + POST
        common = 2 * np.sin(2 * np.pi * np.arange(n) / YEAR_IN_WEEKS + rng.uniform(0, 2 * np.pi))
        common += ar1(rng, n, 0.5)
        treated = 50 + common + ar1(rng, n, 0.3)
        treated[pre + TRANSITION :] += effect
        controls = pd.concat(
            weekly(level + common + ar1(rng, n, 0.3)).assign(group=group)
            for group, level in (("a", 40.0), ("b", 45.0), ("c", 60.0))
        )
        change = START + dt.timedelta(weeks=pre, days=2)
        result = estimate_impact(
            weekly(treated),
            change_date=change,
            lag_days=LAG,
            expected="increase",
            controls=controls,
        )
        assert result.method == DID and result.its is not None
        naive_moved += result.its[1] > 0 or result.its[2] < 0
        return result, effect

    with_effect = rates(simulate, 2.0, seed=7)
    naive_moved = 0
    without = rates(simulate, 0.0, seed=8)
    report(f"DiD, 3 controls ({time.perf_counter() - started:.1f} s)", with_effect, without)
    print(f"the trend alone (ITS) says moved without an effect in {naive_moved / REPS:.1%}")
    assert with_effect["up"] >= 0.55  # 30-50 pre weeks, and the controls' mean adds noise
    assert without["up"] + without["down"] <= 0.10
    for outcome in (with_effect, without):
        assert 0.80 <= outcome["covered"] <= 0.97
    assert naive_moved / REPS > 0.2
