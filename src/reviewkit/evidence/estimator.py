"""Did a delivered output move the KPI it was meant to move? Evidence of association, not proof.

A link says "this output, delivered on a date, should move that KPI in this direction after about
this many days". :func:`estimate_impact` answers with the KPI series the caller computed (one value
per day, week or month) and, when there are any, the same KPI for segments the output did not touch.

Method
------
**Interrupted time series (ITS).** The pre-period (up to ``pre_window`` periods that end on or
before the delivery date) is fitted by least squares with a level, a linear trend and, once the
history covers a full cycle, Fourier terms for seasonality: yearly at the week and month grains,
weekday and yearly at the day grain (weekday is irrelevant to weekly data). One harmonic per full
cycle of history, at most three, and at least four pre points per parameter. The fitted model,
extrapolated, is the *counterfactual*: what the KPI would have done without the output. The
periods from delivery to delivery + lag are a transition and are left out; the effect is the mean
of actual minus counterfactual over the ``post_window`` periods from delivery + lag on (segmented
regression as in Wagner et al. 2002, J. Clin. Pharm. Ther.; Bernal, Cummins & Gasparrini 2017,
Int. J. Epidemiol.).

Seasonality is fitted from one year of history rather than two (Prophet's rule for yearly terms):
with 60-100 weekly pre points and a yearly sine as large as the noise, leaving it out dropped the
detection of a 2-sd effect from 89% to 59% and raised false "moved" verdicts to 12%; with a sine
twice the noise, detection fell to 18%. Fitting the harmonic costs 7 points of detection (96% to
89%) when there is no seasonality. Just over a year of history barely separates trend from
season, and the interval widens accordingly, which is the honest answer.

**Interval.** The estimate is a linear combination ``a @ y`` of the pre and post values, so its
variance is ``a @ Sigma @ a`` for the noise covariance ``Sigma``: one number that carries both the
uncertainty of the extrapolated fit and the noise of the post mean, and their covariance across
the transition. KPI noise is autocorrelated (a good week tends to follow a good week), which makes
naive intervals too narrow, so it is modelled as AR(1) on the period grid: periods ``k`` apart
correlate ``phi ** k``, which also handles missing periods. ``phi`` is matched to the
autocorrelation of the pre-period residuals through its exact expectation under the fitted design
(residuals of a trend-and-season fit understate autocorrelation in short series), taking the
larger of the lag-one and lag-two matches and at least 0: under AR(1) they agree, and when
deviations last longer than AR(1) allows (ARMA-like noise) lag two catches it. In a simulation
with ARMA(1, 1) noise (same lag-one autocorrelation 0.33, slower decay) coverage of the 90%
interval was 76% with lag one alone and 85% with both; under pure AR(1) the price is an interval
slightly wider than nominal. The quantile is Student's t with Satterthwaite degrees of freedom for
the estimated variance, which depends on the residual sum of squares and on the estimated ``phi``.

**Level shifts.** KPIs step for reasons unrelated to any output (a pricing change, a new
channel, a reorganised team). A trend fitted through a step in the pre-period tilts and
extrapolates the tilt. So the pre-period is searched for up to two steps: at every period with
at least a tenth of the pre-period (and four points) on each side, the step's coefficient over
its standard error under the fitted AR(1) noise; the strongest is kept when, refitted, it
stands ``SHIFT_Z`` standard errors from zero (about 5% of pre-periods without a step get one by
chance). Kept steps are regressors, so the counterfactual starts from the level after the last
one and its uncertainty counts. A business event recorded for the KPI (``reviewkit events``)
is a known step at its date; an event with an end (a campaign, an outage) leaves its periods
out of the fit.

**A step later in the effect window.** An output's effect starts where its window does
(delivery + lag); a step in actual minus counterfactual well inside the window is something
else (an unrelated change, or an effect far later than the link says) and, averaged over the
whole window, would read as the effect. So the window is searched for one the same way
(``later_shift``: at least the grain's minimum and four periods before it, four from it on;
the same ``SHIFT_Z``, the counterfactual's error counted), and when found the effect is
measured before it, the sentence says so and the chart's effect window stops there.

**Choices the data made.** Both steps are the largest of some 20-40 candidates, so they fit the
noise of the segment they cut better than a step known in advance would, and an interval that
took the choice as given covered planted effects only 55-87% (pre-period shift) and 69-74%
(window ended) of the time on the simulated companies. Where either was chosen, the interval
is the union of the chosen reading's and the other choice's (the window read whole, the
pre-period fitted without the found shifts), each with the placebos' widening, and the p-value
the larger of the two; the estimate stays the chosen reading's.

**Difference in differences (DiD).** With control segments, the same analysis runs on the treated
KPI minus a *comparison*: the controls weighted, non-negative and summing to one, so that their
movements follow the treated segment's over the pre-period once each series' mean is removed (a
synthetic control with an intercept, Doudchenko & Imbens 2016; a ridge pulls the weights towards
the plain mean so a few noisy weeks do not hand one segment everything). When the segments'
pre-period movements are shares of their sizes rather than amounts (the slope of the treated series
on the comparison stands clearly nearer the ratio of their means than 1), the comparison is scaled
to the treated segment's size, so a shock that moves every segment by a share (a price change)
cancels too. The sentence names the segments, their weights and the scale. Common shocks (a
campaign, an outage, the economy) and shared seasonality cancel, so the gap is fitted with level,
trend and shifts only (seasonal terms would spend scarce pre-period points, such as 20 months of a
monthly KPI, on nothing: on the sample company this is what lets monthly billing churn's planted
1.5 pp drop be detected), and the fitted trend of the gap relaxes "parallel trends" to "a gap that
changes linearly" (a comparative interrupted time series). DiD is the primary method when it can
measure because the ITS counterfactual knows only the pre-period, so anything else that moved the
KPI after delivery reads as an effect, while the controls observe that period; DiD assumes only
that nothing hit the treated segment alone. Both are reported, and the sentence says when their
verdicts differ. A period enters the comparison only when every control group with weight has a
value there, so a changing mix of controls cannot look like a shift. A control segment with a
business event of its own inside a link's windows (an outage there) is left out of that link's
comparison and placebos.

**Placebos.** The model's interval is right only if nothing but its noise moves the KPI. To
check, the same analysis runs where there is no output: at up to ``MAX_PLACEBOS`` earlier
delivery dates, half a post window apart, each measured over at least half a post window that
ends before the real delivery (in time), and on each control segment at the real date against
the other segments (in space). Without an effect a placebo's estimate over its standard error is
t-distributed, with mean square ``df / (df - 2)``; unrelated steps, trend breaks and leaks from
another segment make it larger. The placebos' mean square, scaled to 1 for a model that is
right and pooled with ``PLACEBO_PRIOR`` readings at 1, is the squared factor the interval is
widened by (never narrowed): a KPI that jumps around for unrelated reasons needs a bigger move to
be called moved, and the sentence says so.

**Verdict.** "not enough data" below ``min_pre`` pre points (waiting adds no history, so this is
checked first); "too early" when ``as_of`` is before delivery + lag or fewer than ``min_post`` post
points exist, unless the rest of the post window cannot make up the minimum (a KPI reported
monthly, analysed weekly): that is "not enough data" too, since waiting will not help. Otherwise
the calibrated interval decides: it excludes zero in the expected direction, in the other, or
includes zero ("no detectable change", which is not proof of no effect). A business event
recorded for the KPI inside the effect window (from delivery to the end of the measured window)
turns a move either way into "confounded by an event", naming it.

**Many links.** An outcome with eight links gets, at a 90% interval each, a false "moved" for
more than half of its reviews by chance alone. :func:`measure_links` measures an outcome's links
together and keeps a move only if it survives the Benjamini-Hochberg step (1995) at a false
discovery rate of ``1 - level`` over the links measured; each result carries how many were
tested and its adjusted p-value, and the review says "k of n links tested moved".

**Power.** Every reading states the smallest effect it would detect with 80% power at its
level: ``(t_level + t_0.8) * error * factor``, over the measured periods, or over the whole post
window before any is in (so a link shows it when it is made). The hypothesis' expected size, when
the link gives one, is compared with it ("too small to see").

Measured before the placebos, level shifts and weighted comparison (2,000 simulated weekly
series per case; 60-100 pre weeks, 3-week transition, 12 post weeks, random linear trend, AR(1)
noise with phi 0.3 and standard deviation 1; 90% intervals): an effect of 2 (twice the noise's
standard deviation) is detected in 89% of series, 81% when the yearly cycle has a second harmonic
the model cannot fit yet; without an effect, "moved" verdicts (either way) come out in 6-8% and
coverage is 91-93%. White noise: 96% detected, coverage 95%; phi 0.6: 67% detected, coverage
90-92%. With 20-40 pre weeks 58% are detected, with 8-15 pre weeks 11% (coverage 93-96%). DiD with
three controls sharing a yearly cycle and AR(1) shocks, 30-50 pre weeks: 63% detected, 7% false
"moved", coverage 93%, where the trend alone says "moved" for 43% of series without an effect.
With them (``tests/test_impact.py``, 160 series per case): 84%, 79% with a yearly sine, 61%
with the skewed year. On simulated companies with unrelated level shifts
(``benchmarks/impact_calibration.py``, 30 companies without and 30 with planted effects per
scenario, about 8 links per outcome): links without an effect called "moved" 0.6% / 2.5% / 3.9%
without, with mild and with frequent shifts (6.4% / 12.6% / 22.4% with one test per link and no
calibration), outcomes with a false "moved as hypothesised" 1.1% / 5.6% / 12.2% (18.6% / 32.2%
/ 53.6%), coverage 89.3% / 87.2% / 89.9% (88.9% / 82.9% / 78.9%); a 10% step with a year of
history is detected by its own interval in 75% / 58% / 41%, after the false discovery rate step
in 53% / 36% / 23%. The later-step search alone took false "moved" under frequent shifts from
7.1% to 5.4% and coverage from 83.2% to 86.9%; spanning the choices took coverage to 89.9% and
the detection of 10% steps under frequent shifts from 52% to 41% (each link alone).

Limits: this is association, not causation. The pre-period trend is assumed to continue; a trend
break, or another change where the effect is expected (including another output delivered around
the same time), biases the estimate: a step at the effect's expected start cannot be told from
the effect, only a recorded event separates them. Placebos widen the interval by what the history
shows, and the later-step search catches steps well inside the window; the interval spans the
choices the data made, at a cost in power where steps are frequent. Whether segments move
by amounts or by shares is read off the pre-period: without common movements there, the plain
difference is kept. Without
controls, yearly seasonality needs a year of history and is fitted coarsely until there are
several years. The AR(1) noise model is an approximation: noise
with longer memory than it allows (the ARMA case above) still gets somewhat too narrow intervals.
DiD carries the controls' noise too: with small, noisy segments its interval can be far wider than
the trend's. Monthly KPIs have few points: with 24-36 pre months and 5 post months a 2-sd effect
was detected in 38% of simulated series.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import pandas as pd

from reviewkit.base.errors import QueryError
from reviewkit.base.periods import as_day
from reviewkit.evidence.counterfactual import (
    Effect,
    Floats,
    Ints,
    PreModel,
    comparison_scale,
    fit,
    fit_with_shifts,
    later_shift,
    synthetic_weights,
    t_p_value,
    t_quantile,
)

__all__ = [
    "CONFOUNDED",
    "DID",
    "EVIDENCE_WINDOWS",
    "GRAIN_RULES",
    "ITS",
    "VERDICTS",
    "Change",
    "GrainRules",
    "ImpactResult",
    "KnownEvent",
    "estimate_impact",
    "measure_links",
    "rollup",
]

MOVED: Final = "moved as hypothesised"
NO_CHANGE: Final = "no detectable change"
OTHER_WAY: Final = "moved the other way"
CONFOUNDED: Final = "confounded by an event"
TOO_EARLY: Final = "too early"
NOT_ENOUGH: Final = "not enough data"
VERDICTS: Final = (MOVED, NO_CHANGE, OTHER_WAY, CONFOUNDED, TOO_EARLY, NOT_ENOUGH)

ITS: Final = "interrupted time series"
DID: Final = "difference in differences"

EXPECTED: Final = ("increase", "decrease")
#: The power at which the minimum detectable effect is quoted.
POWER: Final = 0.8
#: Placebo readings in time at most, latest first: older history says less about today's noise.
MAX_PLACEBOS: Final = 12
#: Weight of the model's own noise estimate against the placebos when calibrating, counted in
#: placebos: with few placebos the calibration leans on the model.
PLACEBO_PRIOR: Final = 2.0


@dataclass(frozen=True)
class GrainRules:
    """Defaults and seasonal cycles of one grain; cycles are measured in periods."""

    noun: str
    pre_window: int
    post_window: int
    min_pre: int
    min_post: int
    cycles: tuple[tuple[str, float], ...]


#: Per grain: the windows :func:`estimate_impact` takes when its caller passes none (a series
#: analysed on its own; reviewkit's reviews pass :data:`EVIDENCE_WINDOWS`), the minimums below
#: which a trend is a guess, and the seasonal cycles. Pre-period: two years of weeks or months
#: (room for two yearly harmonics), half a year of days (weekday pattern and trend). Effect
#: window: four weeks of days, a quarter of weeks, half a year of months.
GRAIN_RULES: Final[Mapping[str, GrainRules]] = {
    "day": GrainRules("day", 182, 28, 28, 14, (("weekday", 7.0), ("yearly", 365.25))),
    "week": GrainRules("week", 104, 12, 8, 4, (("yearly", 365.25 / 7),)),
    "month": GrainRules("month", 24, 6, 6, 2, (("yearly", 12.0),)),
}
#: The windows a project's links are measured with (reviewkit.evidence), per impact grain:
#: (periods before delivery the counterfactual is fitted to, periods after delivery + lag
#: measured). A year of weeks, which already fits a yearly season (one harmonic per full cycle
#: at four points per parameter); older history would carry earlier changes into the trend. Two
#: years of months: a year of them is 12 points, too few for a season. Effect window: half a
#: year of weeks, a year of months.
EVIDENCE_WINDOWS: Final[Mapping[str, tuple[int, int]]] = {"week": (52, 26), "month": (24, 12)}


@dataclass(frozen=True)
class KnownEvent:
    """Something recorded as having moved the KPI regardless of any output (a price change, an
    outage, a campaign): from ``start`` on for good, or from ``start`` to ``end``. ``group``
    names the control segment it happened in when it concerns that segment only (the treated
    segment's KPI did not see it): that segment then stays out of the comparison of every link
    whose windows it touches."""

    title: str
    start: dt.date
    end: dt.date | None = None
    group: str | None = None

    @property
    def label(self) -> str:
        when = (
            f"{self.start} to {self.end}"
            if self.end and self.end != self.start
            else f"{self.start}"
        )
        return f"{self.title} ({when})"


@dataclass(frozen=True)
class Change:
    """One link to measure: delivered on ``change_date``, expected to move the KPI in
    ``expected`` direction from ``lag_days`` later, by ``size`` in the KPI's units if said."""

    change_date: dt.date
    lag_days: int
    expected: str
    size: float | None = None
    #: how the sentences of the outcome's other links name it (an output id)
    label: str = ""


@dataclass(frozen=True)
class ImpactResult:
    """The evidence for one link between an output and a KPI.

    ``estimate`` is the average effect in the KPI's units over the post window, ``low``/``high``
    its interval, ``relative`` the estimate over the counterfactual mean (None unless that mean is
    positive). ``its`` and ``did`` hold (estimate, low, high) of each method that could run;
    ``method`` names the one the verdict uses. ``series`` has, per period, the actual value, the
    counterfactual with its pointwise band (where the actual should fall without an effect), the
    phase (pre / lag / post / after) and, with controls, the comparison's value.

    ``p_value`` is the two-sided p-value of the calibrated estimate; ``calibration`` the factor
    the placebo readings widened the interval by (1 when they showed nothing the model did not
    expect) from ``placebos`` readings; ``shifts`` the level shifts modelled in the pre-period;
    ``comparison`` the control groups and their weights, ``comparison_scale`` what their
    weighted sum was multiplied by to match the treated segment's size; ``mde`` the smallest
    effect this reading detects with 80% power (``mde_relative`` over the counterfactual
    mean), also before any post data exists; ``confounded_by`` a recorded event inside the
    effect window; ``tested`` and ``q_value`` how many links of the outcome were measured
    together and this one's Benjamini-Hochberg adjusted p-value among them; ``shared_with``
    the other links of the outcome that moved too with an effect expected inside this one's
    window (from its delivery to the end of its measured window): the moves cannot be told
    apart. ``later_shift`` is the start of the period from which the KPI stepped again well
    inside the effect window (the effect is measured before it); ``stepped_with`` the other
    links of the outcome whose effect is expected around that step.
    """

    verdict: str
    estimate: float | None
    low: float | None
    high: float | None
    relative: float | None
    method: str
    did: tuple[float, float, float] | None
    its: tuple[float, float, float] | None
    pre_periods: int
    post_periods: int
    effective: dt.date
    sentence: str
    series: pd.DataFrame
    p_value: float | None = None
    calibration: float = 1.0
    placebos: int = 0
    shifts: tuple[dt.date, ...] = ()
    comparison: tuple[tuple[str, float], ...] = ()
    comparison_scale: float = 1.0
    mde: float | None = None
    mde_relative: float | None = None
    confounded_by: str | None = None
    tested: int = 1
    q_value: float | None = None
    shared_with: tuple[str, ...] = ()
    later_shift: dt.date | None = None
    stepped_with: tuple[str, ...] = ()


# --- the period grid -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """Periods of one grain numbered from an anchor period start (0), so a period is an integer."""

    anchor: dt.date
    grain: str

    def start(self, index: int) -> dt.date:
        if self.grain == "day":
            return self.anchor + dt.timedelta(days=index)
        if self.grain == "week":
            return self.anchor + dt.timedelta(weeks=index)
        year, month = divmod(self.anchor.month - 1 + index, 12)
        return dt.date(self.anchor.year + year, month + 1, 1)

    def last_day(self, index: int) -> dt.date:
        return self.start(index + 1) - dt.timedelta(days=1)

    def containing(self, day: dt.date) -> int:
        """The index of the period that contains ``day``."""
        if self.grain == "month":
            return (day.year - self.anchor.year) * 12 + day.month - self.anchor.month
        step = 1 if self.grain == "day" else 7
        return (day - self.anchor).days // step

    def first_starting_on_or_after(self, day: dt.date) -> int:
        index = self.containing(day)
        return index if self.start(index) == day else index + 1


# --- reading the inputs ----------------------------------------------------------------------


def _dates(column: pd.Series, what: str) -> list[dt.date]:
    try:
        stamps = pd.to_datetime(column)
    except (ValueError, TypeError) as exc:
        raise QueryError(f"{what}: period_start must hold dates ({exc})") from exc
    if stamps.isna().any():
        raise QueryError(f"{what}: period_start has missing dates")
    return [stamp.date() for stamp in stamps]


def _values(column: pd.Series, what: str) -> Floats:
    """Values as floats; infinities (a rate over zero, say) count as missing like NaN."""
    try:
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError) as exc:
        raise QueryError(f"{what}: value must be numeric ({exc})") from exc
    return np.where(np.isfinite(values), values, np.nan)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise QueryError(
            f"{what}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}"
        )


def _indices(grid: _Grid, days: Sequence[dt.date], what: str) -> Ints:
    indices = np.array([grid.containing(day) for day in days], dtype=np.int64)
    off = [day for day, index in zip(days, indices, strict=True) if grid.start(int(index)) != day]
    if off:
        rule = {"day": "", "week": " 7 days apart", "month": " on the first of a month"}
        raise QueryError(
            f"{what}: period_start {off[0]} is not on the {grid.grain} grid of the series "
            f"(periods must start{rule[grid.grain]} from {grid.anchor})"
        )
    return indices


def _treated(series: pd.DataFrame, grain: str, empty: dt.date) -> tuple[_Grid, dict[int, float]]:
    """The series on its grid; a KPI without any period yet (a team with no rows) is an empty
    series on a grid from ``empty``: nothing to measure, which the verdict says."""
    _require(series, ("period_start", "value"), "series")
    if series.empty:
        return _Grid(empty, grain), {}
    days = _dates(series["period_start"], "series")
    grid = _Grid(min(days), grain)
    if grain == "month" and grid.anchor.day != 1:
        raise QueryError(f"series: monthly period_start {grid.anchor} is not the first of a month")
    indices = _indices(grid, days, "series")
    if len(set(indices.tolist())) != len(indices):
        raise QueryError("series: period_start repeats; pass one value per period")
    values = _values(series["value"], "series")
    return grid, dict(zip(indices.tolist(), values.tolist(), strict=True))


def _first_period(change_date: dt.date, grain: str, controls: pd.DataFrame | None) -> dt.date:
    """Where an empty series' grid starts: on the controls' grid when there are any, else the
    change's own period."""
    if controls is not None and not controls.empty and "period_start" in controls:
        return min(_dates(controls["period_start"], "controls"))
    return change_date.replace(day=1) if grain == "month" else change_date


@dataclass(frozen=True)
class _Panel:
    """The treated series and the control groups' on one stretch of the grid: column ``j`` is
    period ``first + j``; NaN where a period has no value."""

    first: int
    treated: Floats
    controls: Floats  # one row per group (no rows without controls)
    groups: tuple[str, ...]

    def row(self, values: Floats, first: int, last: int) -> tuple[Ints, Floats]:
        """The periods in ``[first, last]`` with a value, and their values."""
        low, high = max(first - self.first, 0), min(last - self.first, len(values) - 1)
        if high < low:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        chunk = values[low : high + 1]
        kept = np.nonzero(~np.isnan(chunk))[0]
        return (kept + low + self.first).astype(np.int64), chunk[kept]

    def without(self, names: Collection[str]) -> _Panel:
        """The panel with the control groups ``names`` left out."""
        kept = [i for i, group in enumerate(self.groups) if group not in names]
        return _Panel(
            self.first, self.treated, self.controls[kept], tuple(self.groups[i] for i in kept)
        )

    def placebo(self, group: int) -> _Panel:
        """Control group ``group`` as if treated, against the other control groups."""
        others = [i for i in range(len(self.groups)) if i != group]
        return _Panel(
            self.first,
            self.controls[group],
            self.controls[others],
            tuple(self.groups[i] for i in others),
        )


def _panel(grid: _Grid, treated: dict[int, float], controls: pd.DataFrame | None) -> _Panel:
    """Treated values and, per control group, its values, where ``controls`` has columns
    ``period_start``, ``group`` and ``value``."""
    indices: list[int] = list(treated)
    wide = None
    if controls is not None:
        _require(controls, ("period_start", "group", "value"), "controls")
        if not controls.empty:
            at = _indices(grid, _dates(controls["period_start"], "controls"), "controls")
            frame = pd.DataFrame(
                {
                    "index": at,
                    "group": controls["group"].astype(str).to_numpy(),
                    "value": _values(controls["value"], "controls"),
                }
            )
            if frame.duplicated(["index", "group"]).any():
                raise QueryError("controls: a group has more than one value for a period_start")
            wide = frame.pivot(index="index", columns="group", values="value")
            indices += wide.index.tolist()
    first = min(indices, default=0)
    length = max(indices, default=-1) - first + 1
    values = np.full(length, np.nan)
    for index, value in treated.items():
        values[index - first] = value
    if wide is None:
        return _Panel(first, values, np.zeros((0, length)), ())
    rows = np.full((wide.shape[1], length), np.nan)
    rows[:, wide.index.to_numpy() - first] = wide.to_numpy(dtype=np.float64).T
    return _Panel(first, values, rows, tuple(str(g) for g in wide.columns))


# --- the analysis ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Windows:
    """Where the phases fall on the grid, and how far the complete data reaches."""

    pre_first: int
    pre_last: int
    post_first: int
    post_last: int
    horizon: int  # last complete period

    def phase(self, index: int) -> str:
        if index <= self.pre_last:
            return "pre"
        if index < self.post_first:
            return "lag"
        return "post" if index <= self.post_last else "after"


@dataclass(frozen=True)
class _Setup:
    """What every reading of one link shares: the grain's rules, the interval's level and the
    recorded events as the model sees them (a step from a period on; periods left out)."""

    rules: GrainRules
    level: float
    steps: tuple[int, ...] = ()
    skipped: frozenset[int] = frozenset()


@dataclass(frozen=True)
class _Analysis:
    """A fitted model on a (treated or treated-minus-comparison) series and what it says."""

    method: str
    model: PreModel
    effect: Effect | None  # None while too early
    post_times: Ints  # the periods measured: up to ``later_shift`` when there is one
    later_shift: int | None = None
    #: the effect as the choices the data made (a pre-period shift found, a window ended at a
    #: later step) would have had it the other way: the interval spans theirs too
    alternatives: tuple[Effect, ...] = ()


def _analyse(
    method: str, panel: _Panel, values: Floats, windows: _Windows, setup: _Setup
) -> _Analysis | None:
    """Fit the pre-period (with its level shifts); measure the effect when the post window has
    enough points. The comparison's difference carries no season of its own (the controls share
    it), so it is fitted with level, trend and shifts only: seasonal terms would spend scarce
    pre-period points (two years of months) on nothing."""
    rules = setup.rules
    pre_times, pre_values = panel.row(values, windows.pre_first, windows.pre_last)
    if setup.skipped:
        kept = np.array([t not in setup.skipped for t in pre_times.tolist()], dtype=bool)
        pre_times, pre_values = pre_times[kept], pre_values[kept]
    if len(pre_times) < rules.min_pre:
        return None
    cycles = rules.cycles if method == ITS else ()
    model = fit_with_shifts(cycles, pre_times, pre_values, setup.level, setup.steps)
    post_times, post_values = panel.row(
        values, windows.post_first, min(windows.post_last, windows.horizon)
    )
    if len(post_times) < rules.min_post:
        return _Analysis(method, model, None, post_times)
    later = later_shift(model, post_times, post_values, rules.min_post)
    alternatives = []
    if later is not None:
        alternatives.append(model.effect(post_times, post_values))
        kept = post_times < later
        post_times, post_values = post_times[kept], post_values[kept]
    if set(model.design.steps) - set(setup.steps):
        plain = fit(cycles, pre_times, pre_values, setup.level, setup.steps)
        alternatives.append(plain.effect(post_times, post_values))
    return _Analysis(
        method,
        model,
        model.effect(post_times, post_values),
        post_times,
        later,
        tuple(alternatives),
    )


@dataclass(frozen=True)
class _Reading:
    """Both methods on one set of windows: the trend alone and, with controls, the difference
    to their synthetic comparison; ``primary`` is the one the verdict uses."""

    its: _Analysis | None
    did: _Analysis | None
    comparison: Floats | None  # the weighted (and scaled) controls per period of the panel
    weights: Floats | None
    scale: float = 1.0  # what the weighted controls were multiplied by (comparison_scale)

    @property
    def primary(self) -> _Analysis | None:
        """The difference in differences when it can measure (while too early it still draws
        the counterfactual), else the trend alone."""
        if self.did is not None and (
            self.did.effect is not None or self.its is None or self.its.effect is None
        ):
            return self.did
        return self.its


def _comparison(
    panel: _Panel, windows: _Windows, setup: _Setup
) -> tuple[Floats, Floats, float] | None:
    """The controls weighted to follow the treated series over the pre-period and scaled to
    its size when it moves by shares of it (:func:`comparison_scale`), the weights and the
    scale; a period counts only where every control group with weight has a value."""
    if len(panel.groups) == 0:
        return None
    low = max(windows.pre_first - panel.first, 0)
    high = min(windows.pre_last - panel.first, len(panel.treated) - 1) + 1
    columns = np.arange(low, max(high, low))
    columns = columns[~np.isnan(panel.treated[columns])]
    columns = columns[~np.isnan(panel.controls[:, columns]).any(axis=0)]
    if setup.skipped:
        columns = columns[[c + panel.first not in setup.skipped for c in columns.tolist()]]
    if len(columns) < setup.rules.min_pre:
        return None
    weights = synthetic_weights(panel.treated[columns], panel.controls[:, columns].T)
    used = weights > 1e-6
    weights = np.where(used, weights, 0.0) / weights[used].sum()
    comparison: Floats = weights[used] @ panel.controls[used]
    scale = comparison_scale(panel.treated[columns], comparison[columns])
    return comparison * scale, weights, scale


def _read(panel: _Panel, windows: _Windows, setup: _Setup, *, its: bool = True) -> _Reading:
    """The reading at ``windows``; ``its=False`` skips the trend alone where only the
    difference in differences is wanted (a placebo of a link measured that way)."""
    trend = _analyse(ITS, panel, panel.treated, windows, setup) if its else None
    matched = _comparison(panel, windows, setup)
    if matched is None or (its and trend is None):
        return _Reading(trend, None, None, None)
    comparison, weights, scale = matched
    did = _analyse(DID, panel, panel.treated - comparison, windows, setup)
    return _Reading(trend, did, comparison, weights, scale)


def _in_time(panel: _Panel, windows: _Windows, rules: GrainRules) -> list[_Windows]:
    """Placebo windows: the same pre-period length and transition, delivered earlier, each
    measured over at least half the post window (and the grain's minimum) ending before the
    real delivery, so none sees the real change; latest first, half a post window apart."""
    transition = windows.post_first - windows.pre_last - 1
    pre_length = windows.pre_last - windows.pre_first + 1
    post_length = windows.post_last - windows.post_first + 1
    needed = max(rules.min_post, post_length // 2)
    observed = np.nonzero(~np.isnan(panel.treated))[0]
    if len(observed) == 0:
        return []
    earliest = int(observed[0]) + panel.first + rules.min_pre
    latest = windows.pre_last - transition - needed + 1
    step = max(1, post_length // 2)
    return [
        _Windows(
            pre_first=change - pre_length,
            pre_last=change - 1,
            post_first=change + transition,
            post_last=min(change + transition + post_length - 1, windows.pre_last),
            horizon=windows.pre_last,
        )
        for change in range(latest, earliest - 1, -step)
    ][:MAX_PLACEBOS]


def _calibration(panel: _Panel, windows: _Windows, setup: _Setup, method: str) -> tuple[float, int]:
    """How much wider than the model's own interval the placebos say the interval must be,
    and how many placebo readings said it.

    Each placebo runs the same method at a delivery date in the pre-period (in time) or on
    each control group at the real date against the other groups (in space). Without an effect
    its estimate over its standard error is t-distributed, with mean square ``df / (df - 2)``;
    unrelated level shifts, trend breaks or leaks from another group make it larger. The mean
    square, scaled to 1 for a model that is right and pooled with PLACEBO_PRIOR readings at 1,
    is the squared factor; never below 1.
    """
    readings = [
        _read(panel, placebo, setup, its=method == ITS)
        for placebo in _in_time(panel, windows, setup.rules)
    ]
    if method == DID and len(panel.groups) >= 2:
        readings += [
            _read(panel.placebo(g), windows, setup, its=False) for g in range(len(panel.groups))
        ]
    elif method == ITS:
        readings += [_read(panel.placebo(g), windows, setup) for g in range(len(panel.groups))]
    squares = []
    for reading in readings:
        analysis = reading.did if method == DID else reading.its
        if analysis is None or analysis.effect is None or analysis.effect.error <= 0:
            continue
        effect = analysis.effect
        scale = (effect.df - 2) / effect.df if math.isfinite(effect.df) and effect.df > 2 else 1.0
        squares.append(min(effect.statistic**2, 1e6) * scale)
    factor = (PLACEBO_PRIOR + sum(squares)) / (PLACEBO_PRIOR + len(squares))
    return math.sqrt(max(1.0, factor)), len(squares)


@dataclass(frozen=True)
class _Measured:
    """The calibrated result of the primary analysis."""

    estimate: float
    low: float
    high: float
    p_value: float

    @property
    def interval(self) -> tuple[float, float, float]:
        return self.estimate, self.low, self.high


def _calibrated(
    effect: Effect, factor: float, level: float, alternatives: Sequence[Effect] = ()
) -> _Measured:
    """The estimate with its interval widened by the placebos' ``factor``; where the data chose
    the model (``alternatives``), the interval spans each choice's and the p-value is the
    largest, so the choice is not a free look."""
    readings = [_one(e, factor, level) for e in (effect, *alternatives)]
    return _Measured(
        effect.estimate,
        min(r.low for r in readings),
        max(r.high for r in readings),
        max(r.p_value for r in readings),
    )


def _one(effect: Effect, factor: float, level: float) -> _Measured:
    error = effect.error * factor
    half = t_quantile(0.5 + level / 2, effect.df) * error if error > 0 else 0.0
    p_value = (
        t_p_value(effect.estimate / error, effect.df)
        if error > 0
        else (1.0 if effect.estimate == 0 else 0.0)
    )
    return _Measured(effect.estimate, effect.estimate - half, effect.estimate + half, p_value)


def _detectable(
    analysis: _Analysis, its: _Analysis | None, times: Ints, factor: float, level: float
) -> tuple[float | None, float | None]:
    """The smallest effect detected with POWER at ``level`` over ``times`` (the measured
    periods, or the whole post window while none are): ``(t_level + t_power) * error``, and
    that over the KPI's counterfactual by its own trend, when positive."""
    if len(times) == 0:
        return None, None
    effect = analysis.model.effect(times)
    if effect.error <= 0:
        return None, None
    size = (t_quantile(0.5 + level / 2, effect.df) + t_quantile(POWER, effect.df)) * effect.error
    size *= factor
    baseline = float(np.mean(its.model.predict(times))) if its is not None else 0.0
    return size, size / baseline if baseline > 0 else None


def _verdict(interval: tuple[float, float, float], expected: str) -> str:
    _, low, high = interval
    if low > 0 or high < 0:
        up = low > 0
        return MOVED if up == (expected == "increase") else OTHER_WAY
    return NO_CHANGE


def _setup(grid: _Grid, rules: GrainRules, level: float, events: Sequence[KnownEvent]) -> _Setup:
    """Recorded events as the model sees them: a lasting change from the first whole period
    after it (the period it falls in, if partly before, is left out); an event with an end
    leaves out the periods it touches."""
    steps: list[int] = []
    skipped: set[int] = set()
    for event in events:
        if event.end is None:
            first = grid.first_starting_on_or_after(event.start)
            steps.append(first)
            if grid.start(first) != event.start:
                skipped.add(first - 1)
        else:
            skipped.update(range(grid.containing(event.start), grid.containing(event.end) + 1))
    return _Setup(rules, level, tuple(sorted(set(steps))), frozenset(skipped))


def _in_windows(
    events: Sequence[KnownEvent], grid: _Grid, windows: _Windows, data_from: int
) -> list[KnownEvent]:
    """Events from the first pre period with data (``data_from`` on) to the end of the measured
    window; one without an end, from its start (a lasting change before the data is a level
    the comparison absorbs)."""
    first = grid.start(max(windows.pre_first, data_from))
    last = grid.last_day(min(windows.post_last, windows.horizon))
    return [e for e in events if e.start <= last and (e.end or e.start) >= first]


def _confounders(
    events: Sequence[KnownEvent], change_date: dt.date, grid: _Grid, windows: _Windows
) -> list[KnownEvent]:
    """Events from delivery to the end of the measured window: the move may be theirs."""
    last = grid.last_day(min(windows.post_last, windows.horizon))
    return [e for e in events if e.start <= last and (e.end or e.start) >= change_date]


def estimate_impact(
    series: pd.DataFrame,
    *,
    change_date: dt.date,
    lag_days: int,
    expected: str,
    grain: str = "week",
    controls: pd.DataFrame | None = None,
    as_of: dt.date | None = None,
    pre_window: int | None = None,
    post_window: int | None = None,
    level: float = 0.90,
    unit_text: Callable[[float], str] | None = None,
    name: str = "the KPI",
    events: Sequence[KnownEvent] = (),
    size: float | None = None,
) -> ImpactResult:
    """Whether the KPI in ``series`` moved as ``expected`` after an output delivered on
    ``change_date`` whose effect should start ``lag_days`` later.

    ``series`` has one row per period (``period_start``, ``value``; NaN for a missing period);
    ``controls`` has the same KPI for segments the output did not touch (``period_start``,
    ``group``, ``value``). Periods ending after ``as_of`` are ignored as incomplete. Windows
    count periods of ``grain`` (defaults in :data:`GRAIN_RULES`). ``unit_text`` formats a KPI
    difference for the sentence (e.g. ``lambda d: f"{d * 100:.1f} pp"``) and ``name`` is the
    KPI's name there. ``events`` recorded for the KPI are modelled in the pre-period and make
    a move inside the effect window "confounded"; ``size`` is the change the link's hypothesis
    expects, in the KPI's units, compared with what the data can detect. One link alone: see
    :func:`measure_links` for an outcome's links together. The module docstring describes the
    method and its limits.
    """
    (result,) = measure_links(
        series,
        [Change(change_date, lag_days, expected, size)],
        grain=grain,
        controls=controls,
        as_of=as_of,
        pre_window=pre_window,
        post_window=post_window,
        level=level,
        unit_text=unit_text,
        name=name,
        events=events,
    )
    return result


@dataclass(frozen=True)
class _Inputs:
    """The series and the controls read onto the grid: the same for every link of an outcome."""

    grid: _Grid
    treated: dict[int, float]
    panel: _Panel
    had_controls: bool

    @property
    def shared(self) -> bool:
        """Whether other links can use them: the grid starts at the data, not at the change
        (which it does only when there is no data at all)."""
        return len(self.panel.treated) > 0


def _inputs(
    series: pd.DataFrame, grain: str, controls: pd.DataFrame | None, change_date: dt.date
) -> _Inputs:
    grid, treated = _treated(series, grain, _first_period(change_date, grain, controls))
    return _Inputs(grid, treated, _panel(grid, treated, controls), controls is not None)


def _estimate(
    inputs: _Inputs,
    rules: GrainRules,
    *,
    change_date: dt.date,
    lag_days: int,
    expected: str,
    as_of: dt.date | None,
    pre_window: int | None,
    post_window: int | None,
    level: float,
    unit_text: Callable[[float], str] | None,
    name: str,
    events: Sequence[KnownEvent],
    size: float | None,
) -> ImpactResult:
    """:func:`estimate_impact` on inputs already read."""
    grid, treated = inputs.grid, inputs.treated
    effective = change_date + dt.timedelta(days=lag_days)
    pre_length = pre_window or rules.pre_window
    post_first = grid.first_starting_on_or_after(effective)
    last_pre = grid.containing(change_date) - 1
    windows = _Windows(
        pre_first=last_pre - pre_length + 1,
        pre_last=last_pre,
        post_first=post_first,
        post_last=post_first + (post_window or rules.post_window) - 1,
        horizon=(
            grid.containing(as_of + dt.timedelta(days=1)) - 1
            if as_of
            else max(treated, default=grid.containing(change_date))
        ),
    )
    own = [e for e in events if e.group is None]
    elsewhere = _in_windows(
        [e for e in events if e.group in inputs.panel.groups], grid, windows, inputs.panel.first
    )
    panel = inputs.panel.without({e.group for e in elsewhere if e.group is not None})
    setup = _setup(grid, rules, level, own)
    shown = {i: v for i, v in treated.items() if windows.pre_first <= i <= windows.horizon}
    pre_count = _count(shown, windows.pre_first, windows.pre_last)
    post_count = _count(shown, windows.post_first, windows.post_last)
    reading = _read(panel, windows, setup)
    its, primary = reading.its, reading.primary
    confounders = _confounders(own, change_date, grid, windows)
    text = _Text(
        name,
        rules,
        grid,
        windows,
        change_date,
        lag_days,
        expected,
        level,
        unit_text or _plain,
        had_controls=inputs.had_controls,
        comparison=_weights(panel, reading),
        scale=reading.scale,
    )
    measured: _Measured | None = None
    factor, placebos = 1.0, 0
    if its is None or primary is None:
        verdict, sentence = NOT_ENOUGH, text.short_history(pre_count)
    elif primary.effect is None:
        # Periods of the post window still to come; if even they cannot make up the minimum
        # (a KPI reported monthly, analysed weekly, say), waiting will not help.
        remaining = windows.post_last - max(windows.horizon, windows.post_first - 1)
        if post_count + max(remaining, 0) < rules.min_post:
            verdict, sentence = NOT_ENOUGH, text.sparse_window(pre_count, post_count)
        else:
            factor, placebos = _calibration(panel, windows, setup, primary.method)
            verdict, sentence = TOO_EARLY, text.too_early(pre_count, post_count)
    else:
        factor, placebos = _calibration(panel, windows, setup, primary.method)
        measured = _calibrated(primary.effect, factor, level, primary.alternatives)
        verdict = _verdict(measured.interval, expected)
        sentence = text.result(measured.interval, primary, reading, factor, level)
    mde = mde_relative = None
    if primary is not None:
        planned = (
            primary.post_times
            if primary.effect is not None
            else np.arange(windows.post_first, windows.post_last + 1, dtype=np.int64)
        )
        mde, mde_relative = _detectable(primary, its, planned, factor, level)
    if verdict not in (NOT_ENOUGH,):
        sentence = " ".join(
            [
                sentence,
                *text.detectable(verdict, mde, mde_relative, size),
                *text.calibration(factor, placebos),
                *text.left_out(elsewhere),
            ]
        )
    confounded_by = confounders[0].label if confounders else None
    if confounded_by and verdict in (MOVED, OTHER_WAY, NO_CHANGE, TOO_EARLY):
        if verdict in (MOVED, OTHER_WAY):
            verdict = CONFOUNDED
        sentence += " " + text.confounded(confounders, verdict)
    return ImpactResult(
        verdict=verdict,
        estimate=measured.estimate if measured else None,
        low=measured.low if measured else None,
        high=measured.high if measured else None,
        relative=_relative(measured.estimate, primary, reading, panel)
        if measured and primary
        else None,
        method=primary.method if primary is not None else ITS,
        did=_interval(reading.did, factor, level),
        its=_interval(its, factor, level),
        pre_periods=pre_count,
        post_periods=len(primary.post_times) if measured and primary else post_count,
        effective=effective,
        sentence=sentence,
        series=_frame(grid, windows, shown, panel, reading),
        p_value=measured.p_value if measured else None,
        calibration=factor,
        placebos=placebos,
        shifts=tuple(grid.start(s) for s in primary.model.design.steps if s not in setup.steps)
        if primary is not None
        else (),
        comparison=text.comparison,
        comparison_scale=text.scale if text.comparison else 1.0,
        mde=mde,
        mde_relative=mde_relative,
        confounded_by=confounded_by,
        later_shift=grid.start(primary.later_shift)
        if measured and primary and primary.later_shift is not None
        else None,
    )


def measure_links(
    series: pd.DataFrame,
    changes: Sequence[Change],
    *,
    grain: str = "week",
    controls: pd.DataFrame | None = None,
    as_of: dt.date | None = None,
    pre_window: int | None = None,
    post_window: int | None = None,
    level: float = 0.90,
    unit_text: Callable[[float], str] | None = None,
    name: str = "the KPI",
    events: Sequence[KnownEvent] = (),
) -> list[ImpactResult]:
    """Every link of one outcome (``changes``) against the same ``series``, with the false
    discovery rate controlled across them: each link is measured as :func:`estimate_impact`
    says (the keywords are its), then a link "moved" only if it also survives the
    Benjamini-Hochberg step at ``1 - level`` over the links measured; each result says how many
    were (``tested``), its adjusted p-value (``q_value``) and the other moved links whose effect
    shares its window (``shared_with``)."""
    read: _Inputs | None = None
    results = []
    for change in changes:
        rules = _rules(grain, change.expected, change.lag_days, level, pre_window, post_window)
        day = as_day(change.change_date)
        if read is None or not read.shared:
            read = _inputs(series, grain, controls, day)
        results.append(
            _estimate(
                read,
                rules,
                change_date=day,
                lag_days=change.lag_days,
                expected=change.expected,
                as_of=as_day(as_of) if as_of is not None else None,
                pre_window=pre_window,
                post_window=post_window,
                level=level,
                unit_text=unit_text,
                name=name,
                events=events,
                size=change.size,
            )
        )
    return _stepped_with(_shared(adjust_for_many(results, 1 - level), changes), changes)


def _shared(results: Sequence[ImpactResult], changes: Sequence[Change]) -> list[ImpactResult]:
    """Each moved link with the other moved links whose effect is expected between its delivery
    and the end of its measured window, said in its sentence: one step in the KPI can make both
    "move", and the data cannot tell whose it is."""
    moved = [i for i, r in enumerate(results) if r.verdict in (MOVED, OTHER_WAY)]
    out = list(results)
    for i in moved:
        post = results[i].series.loc[results[i].series["phase"] == "post", "period_start"]
        last = post.max()
        shared = [
            changes[k].label or f"the link delivered on {changes[k].change_date}"
            for k in moved
            if k != i and changes[i].change_date < results[k].effective <= as_day(last)
        ]
        if shared:
            out[i] = replace(
                results[i],
                shared_with=tuple(shared),
                sentence=results[i].sentence + " " + _Text.shared(shared),
            )
    return out


def _stepped_with(results: Sequence[ImpactResult], changes: Sequence[Change]) -> list[ImpactResult]:
    """Each link measured up to a later step, with the outcome's other links whose effect is
    expected around it (from the period before the step to four periods after), said in its
    sentence: the step is more likely theirs."""
    out = list(results)
    for i, result in enumerate(results):
        if result.later_shift is None:
            continue
        starts = list(result.series["period_start"])
        at = starts.index(result.later_shift)
        low, high = starts[max(at - 1, 0)], starts[min(at + 4, len(starts) - 1)]
        near = tuple(
            changes[k].label or f"the link delivered on {changes[k].change_date}"
            for k, other in enumerate(results)
            if k != i and low <= other.effective <= high
        )
        if near:
            out[i] = replace(
                result, stepped_with=near, sentence=result.sentence + " " + _Text.stepped(near)
            )
    return out


def adjust_for_many(results: Sequence[ImpactResult], rate: float) -> list[ImpactResult]:
    """Benjamini-Hochberg over the results with a p-value: adjusted p-values (``q_value``), and
    "moved" either way only where that is at most ``rate``, the false discovery rate."""
    tested = [i for i, r in enumerate(results) if r.p_value is not None]
    count = len(tested)
    adjusted = _benjamini_hochberg([results[i].p_value or 0.0 for i in tested])
    out = list(results)
    for i, q_value in zip(tested, adjusted, strict=True):
        result = replace(results[i], tested=count, q_value=q_value)
        if result.verdict in (MOVED, OTHER_WAY) and q_value > rate:
            result = replace(
                result,
                verdict=NO_CHANGE,
                sentence=result.sentence + " " + _Text.too_many(count, rate, q_value),
            )
        out[i] = result
    return out


def _benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Adjusted p-values: ``min over j >= rank of p_(j) * n / j``, capped at 1 (Benjamini &
    Hochberg 1995); a p-value at or below the rate after adjustment is a discovery."""
    count = len(p_values)
    order = sorted(range(count), key=lambda i: p_values[i])
    adjusted = [0.0] * count
    running = 1.0
    for rank in range(count, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * count / rank)
        adjusted[i] = running
    return adjusted


def rollup(results: Sequence[ImpactResult]) -> dict[str, int]:
    """How many of an outcome's links reached each verdict, every verdict listed (0 if none)."""
    counts = dict.fromkeys(VERDICTS, 0)
    for result in results:
        counts[result.verdict] += 1
    return counts


def _interval(
    analysis: _Analysis | None, factor: float, level: float
) -> tuple[float, float, float] | None:
    if analysis is None or analysis.effect is None:
        return None
    return _calibrated(analysis.effect, factor, level, analysis.alternatives).interval


def _weights(panel: _Panel, reading: _Reading) -> tuple[tuple[str, float], ...]:
    """The control groups with weight in the comparison, heaviest first."""
    if reading.weights is None or reading.did is None:
        return ()
    pairs = [(g, float(w)) for g, w in zip(panel.groups, reading.weights, strict=True) if w > 0]
    return tuple(sorted(pairs, key=lambda pair: (-pair[1], pair[0])))


def _rules(
    grain: str,
    expected: str,
    lag_days: int,
    level: float,
    pre_window: int | None,
    post_window: int | None,
) -> GrainRules:
    if grain not in GRAIN_RULES:
        raise QueryError(f"unknown grain '{grain}' for an impact estimate; use day, week or month")
    if expected not in EXPECTED:
        raise QueryError(f"expected must be 'increase' or 'decrease', not '{expected}'")
    if lag_days < 0:
        raise QueryError(f"lag_days must be 0 or more days, not {lag_days}")
    if not 0 < level < 1:
        raise QueryError(f"level must be between 0 and 1 (e.g. 0.9), not {level}")
    for label, window in (("pre_window", pre_window), ("post_window", post_window)):
        if window is not None and window < 1:
            raise QueryError(f"{label} must be at least one period, not {window}")
    return GRAIN_RULES[grain]


def _count(observed: dict[int, float], first: int, last: int) -> int:
    return sum(1 for i, v in observed.items() if first <= i <= last and not math.isnan(v))


def _frame(
    grid: _Grid, windows: _Windows, shown: dict[int, float], panel: _Panel, reading: _Reading
) -> pd.DataFrame:
    """One row per period of the series from the pre window to the last complete period."""
    indices = sorted(shown)
    times = np.array(indices, dtype=np.int64)
    counterfactual = np.full(len(times), np.nan)
    half = np.full(len(times), np.nan)
    base = np.full(len(times), np.nan)
    if reading.comparison is not None:
        base = reading.comparison[times - panel.first]
    primary = reading.primary
    if primary is not None:
        counterfactual = primary.model.predict(times)
        half = primary.model.band(times)
        if primary.method == DID:
            counterfactual = counterfactual + base
    frame = pd.DataFrame(
        {
            "period_start": [grid.start(i) for i in indices],
            "actual": [shown[i] for i in indices],
            "counterfactual": counterfactual,
            "low": counterfactual - half,
            "high": counterfactual + half,
            "phase": [_phase(windows, primary, i) for i in indices],
        }
    )
    if len(panel.groups):
        frame["control"] = base
    return frame


def _phase(windows: _Windows, primary: _Analysis | None, index: int) -> str:
    """The period's phase; a post period from a later shift on is after the measured window."""
    phase = windows.phase(index)
    later = primary.later_shift if primary is not None else None
    return "after" if phase == "post" and later is not None and index >= later else phase


def _relative(
    estimate: float, primary: _Analysis, reading: _Reading, panel: _Panel
) -> float | None:
    """The estimate over the counterfactual mean of the measured periods, when that mean is
    positive: a change relative to a zero or negative baseline means nothing."""
    baseline = primary.model.predict(primary.post_times)
    if primary.method == DID and reading.comparison is not None:
        baseline = baseline + reading.comparison[primary.post_times - panel.first]
    mean = float(np.mean(baseline))
    return estimate / mean if mean > 0 else None


def _plain(difference: float) -> str:
    """A difference with three significant digits and thousands separators: 0.0612, 5.02, 1,235."""
    if difference == 0 or not math.isfinite(difference):
        return f"{difference:g}"
    decimals = max(0, 2 - math.floor(math.log10(abs(difference))))
    return f"{difference:,.{decimals}f}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass(frozen=True)
class _Text:
    """The plain-language sentence: what moved, by how much, against what, over which windows."""

    name: str
    rules: GrainRules
    grid: _Grid
    windows: _Windows
    change_date: dt.date
    lag_days: int
    expected: str
    level: float
    unit_text: Callable[[float], str]
    had_controls: bool
    comparison: tuple[tuple[str, float], ...]
    scale: float

    def _name(self) -> str:
        """The KPI's name opening a sentence."""
        return self.name[:1].upper() + self.name[1:]

    def _periods(self, count: int) -> str:
        return _plural(count, self.rules.noun)

    def _timing(self, pre_count: int) -> str:
        """The lag and both windows, said the same way in every sentence."""
        windows = self.windows
        between = windows.post_first - windows.pre_last - 1
        left_out = {0: "", 1: f"; the {self.rules.noun} in between is left out"}.get(
            between, f"; the {self._periods(between)} in between are left out"
        )
        return (
            f"Effect window: from {self.change_date + dt.timedelta(days=self.lag_days)}"
            f" (delivery on {self.change_date} plus the expected {self.lag_days}-day lag"
            f"{left_out}), up to {self._periods(windows.post_last - windows.post_first + 1)};"
            f" counterfactual: {self._periods(pre_count)} with data out of the"
            f" {self._periods(windows.pre_last - windows.pre_first + 1)} before delivery."
        )

    def short_history(self, pre_count: int) -> str:
        return (
            f"Not enough data: {self._name()} has {self._periods(pre_count)} with data before"
            f" delivery on {self.change_date}; at least {self.rules.min_pre} are needed to fit the"
            f" trend the KPI would have followed without the output. {self._timing(pre_count)}"
            " A plain before/after comparison would be evidence of association, not proof, and"
            " without a trend to compare against it is unreliable."
        )

    def sparse_window(self, pre_count: int, post_count: int) -> str:
        windows = self.windows
        return (
            f"Not enough data: only {post_count} of the"
            f" {self._periods(windows.post_last - windows.post_first + 1)} from"
            f" {self.grid.start(windows.post_first)} to {self.grid.last_day(windows.post_last)}"
            f" have data for {self.name}, and at least {self.rules.min_post} are needed; if the"
            f" KPI is reported less often than every {self.rules.noun}, use a coarser grain or a"
            f" longer window. {self._timing(pre_count)} Any result would be evidence of"
            " association, not proof."
        )

    def too_early(self, pre_count: int, post_count: int) -> str:
        windows = self.windows
        waiting_from = max(windows.post_first, windows.horizon + 1)
        ready = self.grid.last_day(waiting_from + self.rules.min_post - post_count - 1)
        so_far = "none yet" if post_count == 0 else f"{post_count} so far"
        return (
            f"Too early to judge: the effect on {self.name} is expected from"
            f" {self.change_date + dt.timedelta(days=self.lag_days)}, and at least"
            f" {self._periods(self.rules.min_post)} with complete data from then are needed"
            f" ({so_far}); it can be judged once the data through {ready} is complete."
            f" {self._timing(pre_count)} Even then the result will be evidence of association,"
            " not proof."
        )

    def result(
        self,
        interval: tuple[float, float, float],
        primary: _Analysis,
        reading: _Reading,
        factor: float,
        level: float,
    ) -> str:
        estimate, low, high = interval
        verdict = _verdict(interval, self.expected)
        times = primary.post_times
        first, last = self.grid.start(int(times[0])), self.grid.last_day(int(times[-1]))
        if primary.method == DID:
            mix = ", ".join(f"{group} {weight:.0%}" for group, weight in self.comparison)
            if self.scale != 1.0:
                mix += f"; times {self.scale:.3g} to its size, as they move by shares"
            basis = (
                f"the other segments weighted to follow it before delivery ({mix}) and its"
                " pre-period gap to them"
            )
        else:
            basis = "its pre-period trend" + "".join(
                f" and {season} seasonality" for season, _, _ in primary.model.design.seasons
            )
        if estimate == 0:
            moved = f"{self._name()} was exactly where {basis} predicted"
        else:
            direction = "higher" if estimate > 0 else "lower"
            moved = f"{self._name()} was {self.unit_text(abs(estimate))} {direction} than {basis}"
            moved += " predicted"
        parts = [
            f"{moved} over the {self._periods(len(times))} with data from {first} to {last}"
            f" ({self.level:.0%} interval {self.unit_text(low)} to {self.unit_text(high)}).",
            self._reading(verdict),
            self._timing(len(primary.model.times)),
        ]
        window_end = self.grid.last_day(self.windows.post_last)
        if self.windows.horizon < self.windows.post_last:
            parts.append(f"This is an interim reading: the window runs to {window_end}.")
        parts += self._shifts(primary)
        parts += self._later_shift(primary)
        parts += self._caveats(verdict, primary, reading, level)
        return " ".join(parts)

    def _reading(self, verdict: str) -> str:
        if verdict == MOVED:
            return f"The interval excludes zero in the expected direction ({self.expected})."
        if verdict == OTHER_WAY:
            return (
                f"The interval excludes zero in the opposite direction to the expected"
                f" {self.expected}."
            )
        return (
            "The interval includes zero: no change this data can tell from noise, which is not"
            " proof that there was no effect."
        )

    def _shifts(self, primary: _Analysis) -> list[str]:
        """The level shifts the pre-period model steps over."""
        steps = [self.grid.start(s) for s in primary.model.design.steps]
        if not steps:
            return []
        when = " and ".join(str(day) for day in steps)
        return [
            f"The level shifted on {when} before delivery (or a recorded event changed it), so"
            " the counterfactual starts from the level after that rather than a trend tilted"
            " by it."
        ]

    def _later_shift(self, primary: _Analysis) -> list[str]:
        """The step inside the effect window the reading stops at."""
        if primary.later_shift is None:
            return []
        into = self._periods(primary.later_shift - self.windows.post_first)
        return [
            f"{self._name()} stepped again from {self.grid.start(primary.later_shift)}, {into}"
            " into the effect window: the effect is measured before that step, which is"
            " unrelated to the output or, if it is the output's, comes later than the link's"
            " lag says."
        ]

    def detectable(
        self, verdict: str, mde: float | None, relative: float | None, size: float | None
    ) -> list[str]:
        """The smallest effect this reading detects, against the hypothesis' size if given."""
        if mde is None:
            return []
        share = f" ({relative:.0%} of the KPI)" if relative is not None else ""
        reading = "this reading" if verdict != TOO_EARLY else "the full window"
        sentence = (
            f"At this KPI's noise {reading} detects a change of {self.unit_text(mde)}{share} or"
            f" more {POWER:.0%} of the time; smaller effects mostly go unseen."
        )
        if size is not None and abs(size) < mde:
            sentence += (
                f" The hypothesis expects {self.unit_text(abs(size))}: too small to see with this"
                " data, so a verdict of no detectable change would say little."
            )
        return [sentence]

    def calibration(self, factor: float, placebos: int) -> list[str]:
        """How much the placebo readings widened the interval."""
        if factor < 1.05:  # within rounding of the model's own interval
            if not placebos:
                return []
            return [
                f"At {_plural(placebos, 'placebo')} (the same analysis at earlier dates and on the"
                " comparison groups) the KPI moved about as much as its noise explains."
            ]
        return [
            f"At {_plural(placebos, 'placebo')} (the same analysis at earlier dates and on the"
            " comparison groups) the KPI moved more than its noise explains, for reasons"
            f" unrelated to this output, so the interval is {factor:.1f} times as wide as the"
            " noise alone would make it."
        ]

    @staticmethod
    def left_out(events: Sequence[KnownEvent]) -> list[str]:
        """The control segments kept out of the comparison for an event of their own."""
        if not events:
            return []
        names = "; ".join(f"{event.group}: {event.label}" for event in events)
        return [
            f"Left out of the comparison for an event recorded there during these windows: {names}."
        ]

    def confounded(self, events: Sequence[KnownEvent], verdict: str) -> str:
        names = "; ".join(event.label for event in events)
        if verdict == CONFOUNDED:
            return (
                f"Confounded: {names} fell inside the effect window, so the move may be the"
                " event's rather than the output's; the verdict does not credit either."
            )
        return f"Note: {names} fell inside the effect window and may hide or add to an effect."

    @staticmethod
    def shared(others: Sequence[str]) -> str:
        names = ", ".join(others)
        return (
            f"The effect of {names}, which moved the KPI too, is expected inside this window: one"
            " change in the KPI can show in both, and this data cannot tell whose it is."
        )

    @staticmethod
    def stepped(others: Sequence[str]) -> str:
        whose = "theirs" if len(others) > 1 else "that output's"
        return (
            f"The effect of {', '.join(others)} is expected around that later step: the step is"
            f" more likely {whose}."
        )

    @staticmethod
    def too_many(count: int, rate: float, q_value: float) -> str:
        return (
            f"But {count} links of this outcome were measured together, and with that many some"
            " intervals exclude zero by chance: after controlling the false discovery rate at"
            f" {rate:.0%} (Benjamini-Hochberg; adjusted p-value {q_value:.2f}) this move is not"
            " distinguishable from those, so it counts as no detectable change."
        )

    def _caveats(
        self, verdict: str, primary: _Analysis, reading: _Reading, level: float
    ) -> list[str]:
        """Disagreement between the methods, missing seasonality, and the association warning."""
        caveats = []
        its, did = reading.its, reading.did
        if primary.method == DID and its is not None and its.effect is not None:
            its_interval = _calibrated(its.effect, 1.0, level).interval
            its_verdict = _verdict(its_interval, self.expected)
            if its_verdict != verdict:
                estimate, low, high = its_interval
                caveats.append(
                    f"The trend alone (interrupted time series, without the controls) gives"
                    f" {self.unit_text(estimate)} ({self.unit_text(low)} to"
                    f' {self.unit_text(high)}) and would read "{its_verdict}"; the difference'
                    " in differences is preferred because the controls absorb shocks and"
                    " seasonality they share with the treated segment."
                )
        elif did is None and self.had_controls:
            caveats.append(
                "The control groups lack enough periods with data for every group, so this"
                " uses the trend alone."
            )
        fitted = {season for season, _, _ in primary.model.design.seasons}
        if primary.method == ITS and "yearly" not in fitted:
            caveats.append(
                "There is too little history before delivery to model yearly seasonality, so a"
                " seasonal swing would look like an effect."
            )
        if primary.method == DID:
            caveats.append(
                "This is evidence of association, not proof: the controls rule out shocks they"
                " share, not something that changed only for the treated segment at that time."
            )
        else:
            caveats.append(
                "This is evidence of association, not proof: anything else that changed at the"
                " same time would show the same way."
            )
        return caveats
