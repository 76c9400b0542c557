"""The experiment's statistics tested as statistics libraries test theirs: by simulation (a planted effect is
found at about its power, a null one rejected at about the nominal rate), on hand-worked examples, and on
the decision a reviewer relies on most (a cell at chance is not "learned")."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from wormsim.experiment import stats as st


def test_holm_matches_a_hand_worked_example():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> monotone 0.06
    np.testing.assert_allclose(st.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])


def _power_t(n: int, d: float, alpha: float = 0.05) -> float:
    """Power of the two-sided two-sample t-test, n a side, effect d (noncentral t)."""
    df, nc = 2 * n - 2, d * math.sqrt(n / 2)
    t_crit = sps.t.ppf(1 - alpha / 2, df)
    return 1 - sps.nct.cdf(t_crit, df, nc) + sps.nct.cdf(-t_crit, df, nc)


@pytest.mark.parametrize("n, d, draws", [(5, 2.5, 150), pytest.param(8, 2.0, 120, marks=pytest.mark.slow)])
def test_permutation_test_finds_a_planted_effect_at_its_power(n, d, draws):
    """A planted effect d between two groups of n seeds is found about as often as the t-test's power
    says (5 a side, d 2.5: 0.93; 8 a side, d 2: 0.94); the exact permutation test must come close."""
    rng = np.random.default_rng(1)
    hits = sum(st.permutation_p(rng.normal(d, 1, n), rng.normal(0, 1, n)) < 0.05 for _ in range(draws))
    power = _power_t(n, d)
    assert hits / draws > power - 3 * math.sqrt(power * (1 - power) / draws), (hits / draws, power)


@pytest.mark.parametrize("n, draws", [(5, 400), pytest.param(8, 400, marks=pytest.mark.slow)])
def test_permutation_test_keeps_its_false_positive_rate(n, draws):
    rng = np.random.default_rng(2)
    rate = np.mean([st.permutation_p(rng.normal(0, 1, n), rng.normal(0, 1, n)) < 0.05 for _ in range(draws)])
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / draws), rate


def test_a_cell_at_chance_is_not_learned():
    """Digits at chance: 64 episodes of 10 images, each answered at random (accuracy ~ Binomial(10, 0.1) /
    10), no better than the untrained circuit on the same episodes."""
    rng = np.random.default_rng(3)
    trials = list(rng.binomial(10, 0.1, 64) / 10)
    untrained = list(rng.binomial(10, 0.1, 64) / 10)
    out = st.learned_test(trials, untrained, chance=0.1)
    assert out["learned"] is False and "does not beat" in out["why"]


def test_learned_needs_both_chance_and_the_untrained_circuit():
    rng = np.random.default_rng(4)
    untrained = rng.normal(0.5, 0.05, 64)
    better = untrained + 0.1 + rng.normal(0, 0.02, 64)
    assert st.learned_test(list(better), list(untrained), chance=0.1)["learned"] is True
    # above chance, but no better than where it started: not learned
    assert st.learned_test(list(untrained + rng.normal(0, 0.02, 64)), list(untrained), chance=0.1)["learned"] is False
    # a fitted readout: chance alone decides; no references at all or no trials: unknown, never True
    assert st.learned_test(list(better), None, chance=0.1)["learned"] is True
    assert st.learned_test(list(better), None, chance=None)["learned"] is None
    assert st.learned_test([], None, chance=0.1)["learned"] is None


def test_learned_test_false_positive_rate():
    """A cell that did not learn (its trials the untrained circuit's plus symmetric noise) is called
    learned at most at about the nominal rate."""
    rng = np.random.default_rng(5)
    draws = 200
    calls = 0
    for _ in range(draws):     # 12 trials: the sign-flip test is exact (4096 flips) and quick
        untrained = rng.normal(0.3, 0.1, 12)
        calls += st.learned_test(list(untrained + rng.normal(0, 0.05, 12)), list(untrained), chance=0.0)["learned"]
    assert calls / draws <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / draws), calls / draws


@pytest.mark.parametrize("draws, least", [(40, 0.75), pytest.param(200, 0.85, marks=pytest.mark.slow)])
def test_bootstrap_interval_covers_the_true_difference(draws, least):
    rng = np.random.default_rng(6)
    covered = 0
    for _ in range(draws):
        out = st.interval_estimates(rng.normal(1.0, 1, 8), rng.normal(0.0, 1, 8), reps=300, seed=1)
        lo, hi = out["diff_ci"]
        covered += lo <= 1.0 <= hi
        assert 0.0 <= out["poi_ci"][0] <= out["poi"] <= out["poi_ci"][1] <= 1.0
    # percentile bootstrap with 8 a side under-covers a little; far below 95% would be a bug
    assert covered / draws >= least, covered / draws


def test_interaction_is_found_when_planted_and_not_otherwise():
    rng = np.random.default_rng(7)
    n, draws = 8, 60
    planted = [st.interaction_p(rng.normal(2, 1, n), rng.normal(0, 1, n), rng.normal(0, 1, n),
                                rng.normal(0, 1, n), n_resamples=499, seed=k) < 0.05 for k in range(draws)]
    # main effects only (a wiring effect the same at both levels, a level effect): no interaction
    null = [st.interaction_p(rng.normal(3, 1, n), rng.normal(2, 1, n), rng.normal(1, 1, n),
                             rng.normal(0, 1, n), n_resamples=499, seed=k) < 0.05 for k in range(draws)]
    assert np.mean(planted) > 0.6, np.mean(planted)
    assert np.mean(null) <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / draws), np.mean(null)


def test_interaction_contrast_by_hand():
    assert st.interaction_contrast([3.0, 5.0], [1.0, 1.0], [2.0, 2.0], [2.0, 2.0]) == pytest.approx(3.0)


def test_probability_of_improvement_in_the_bootstrap_is_rliables():
    """The bootstrap's fast P(a > b) equals rliable's probability_of_improvement, ties included."""
    from rliable import metrics
    rng = np.random.default_rng(8)
    for a, b in ((rng.normal(0.5, 1, 8), rng.normal(0, 1, 8)), (np.array([1.0, 1, 2]), np.array([1.0, 0, 2]))):
        out = st.interval_estimates(a, b, reps=50)
        assert out["poi"] == pytest.approx(float(metrics.probability_of_improvement(a[:, None], b[:, None])))
        assert out["poi"] == pytest.approx(np.mean((a[:, None] > b) + 0.5 * (a[:, None] == b)))


def test_intervals_are_the_same_for_the_same_data():
    """A report made twice from the same cells gives the same intervals (rliable's bootstrap draws from
    numpy's global generator, whatever random_state it is given), and the caller's global state is kept."""
    a, b = np.array([1.0, 2, 3, 4, 5.5, 6, 7, 8]), np.array([0.0, 1, 2, 1, 3, 2, 1, 0])
    np.random.seed(3)
    untouched = np.random.rand()
    np.random.seed(3)
    first = st.interval_estimates(a, b, reps=200)
    assert np.random.rand() == untouched                  # the caller's global state is kept
    assert st.interval_estimates(a, b, reps=200) == first  # though the global state has moved on
    assert st.interval_estimates(a, b, reps=200, seed=1)["diff_ci"] != first["diff_ci"]
