"""Statistics of paired differences against textbook values and exact enumeration."""
import itertools
import math

import numpy as np
import pytest

from research.stats import (hierarchical_bootstrap, holm, paired_t_power, seeds_for_power, sign_test,
                            signed_rank_distribution, summarise, summarise_family, t_interval, tost,
                            wilcoxon_signed_rank)


@pytest.mark.parametrize('n, t975', [(2, 12.706), (3, 4.303), (6, 2.571), (11, 2.228), (31, 2.042)])
def test_t_interval_uses_the_t_quantile(n, t975):
    diffs = np.linspace(-1.0, 1.0, n) + 0.5
    mean, low, high = t_interval(diffs)
    sd = np.std(diffs, ddof=1)
    assert mean == pytest.approx(0.5)
    assert (high - mean) == pytest.approx(t975 * sd / math.sqrt(n), rel=2e-4)
    assert mean - low == pytest.approx(high - mean)


def test_sign_test_exact_binomial():
    assert sign_test([1] * 9 + [-1]) == pytest.approx(2 * 11 / 1024)
    assert sign_test([1, 1, 1, 1, 1]) == pytest.approx(2 / 32)
    assert sign_test([1, -1, 0, 0]) == 1.0 and sign_test([0, 0]) == 1.0
    assert sign_test([1, 1, 1, 0]) == pytest.approx(0.25)  # zero dropped: n = 3


def test_wilcoxon_matches_the_table_and_enumeration():
    # n = 10 without ties: P(W+ <= 8) = 25/1024, P(W+ <= 10) = 43/1024 (standard tables)
    values, probs = signed_rank_distribution(range(1, 11))
    assert probs[values <= 8].sum() * 1024 == pytest.approx(25)
    assert probs[values <= 10].sum() * 1024 == pytest.approx(43)
    diffs = [-1, -2, -5, 3, 4, 6, 7, 8, 9, 10]  # W+ = 47, W- = 8
    w, p = wilcoxon_signed_rank(diffs)
    assert w == 47 and p == pytest.approx(2 * 25 / 1024)
    # ties: average ranks, exact by enumeration of every sign pattern
    tied = [0.5, 0.5, -0.5, 1.0, 2.0, -2.0, 3.0]
    ranks = [2, 2, 2, 4, 5.5, 5.5, 7]
    w_obs = 2 + 2 + 4 + 5.5 + 7
    sums = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product([0, 1], repeat=7)]
    expected = min(1.0, 2 * min(np.mean(np.array(sums) <= w_obs), np.mean(np.array(sums) >= w_obs)))
    assert wilcoxon_signed_rank(tied) == (w_obs, pytest.approx(expected))


def test_tost_decides_equivalence_by_the_90_percent_interval():
    rng = np.random.default_rng(0)
    small = 0.05 + 0.1 * rng.standard_normal(30)
    p, equivalent = tost(small, 0.3)
    _, low, high = t_interval(small, confidence=0.90)
    assert equivalent and -0.3 < low and high < 0.3 and p < 0.05
    p_far, eq_far = tost(small + 0.4, 0.3)
    assert not eq_far and p_far > 0.5
    assert tost([0.1], 0.3) == (1.0, False)
    # closed form for a symmetric case: mean 0, se s: p = t.sf(delta / se)
    diffs = np.array([-1.0, 1.0, -1.0, 1.0])
    se = np.std(diffs, ddof=1) / 2
    from scipy import stats
    assert tost(diffs, 0.3)[0] == pytest.approx(stats.t.sf(0.3 / se, 3))


def test_holm_step_down():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([0.02, 0.02]) == pytest.approx([0.04, 0.04])


def test_power_and_the_number_of_seeds():
    # effect size 0.5 (one-sample / paired t, two-sided 5 %, 80 % power): n = 34 (standard power tables)
    assert seeds_for_power(sigma=1.0, effect=0.5) == 34
    assert paired_t_power(34, 0.5, 1.0) >= 0.8 > paired_t_power(33, 0.5, 1.0)
    # σ = 1 dB, δ = 0.3 dB: about 90 seeds (normal approximation 88 is a lower bound)
    n = seeds_for_power(sigma=1.0, effect=0.3)
    assert 88 <= n <= 92
    assert seeds_for_power(sigma=0.2, effect=0.3) < 10


def test_two_level_bootstrap_is_deterministic_and_covers_the_mean():
    rng = np.random.default_rng(3)
    data = [list(0.5 + 0.2 * rng.standard_normal(8) + offset) for offset in (0.1, -0.1, 0.0, 0.2, -0.2)]
    low, high = hierarchical_bootstrap(data, num_samples=2000, seed=1)
    assert (low, high) == hierarchical_bootstrap(data, num_samples=2000, seed=1)
    grand = np.mean([np.mean(g) for g in data])
    assert low < grand < high and high - low < 0.6
    # one scene per seed: the seed-level percentile bootstrap of the mean
    single = [[v] for v in (1.0, 2.0, 3.0)]
    lo1, hi1 = hierarchical_bootstrap(single, num_samples=4000)
    assert 1.0 <= lo1 < 2.0 < hi1 <= 3.0


def test_summary_and_family():
    a = summarise('skt - baseline', 'psnr_mu', [0.96, -0.41, -1.47, -0.49], delta=0.3,
                  per_scene=[[0.9, 1.0], [-0.4, -0.42], [-1.5, -1.44], [-0.5, -0.48]], boot_samples=500)
    assert a.n_seeds == 4 and a.mean == pytest.approx(-0.3525)
    assert a.ci_low < -1.5 and a.ci_high > 0.9 and not a.tost_equivalent
    assert a.p_sign == pytest.approx(0.625) and a.p_wilcoxon == pytest.approx(0.625)
    assert a.seeds_for_80_power > 50
    b = summarise('skt - no_semantics', 'psnr_mu', [0.1, 0.2, 0.3], delta=0.3)
    summarise_family([a, b])
    assert a.p_holm == pytest.approx(min(1.0, 2 * min(a.p_t, b.p_t)) if a.p_t < b.p_t else max(a.p_t, 2 * b.p_t))
    d = b.as_dict()
    assert d['boot_low'] is None and d['n_seeds'] == 3
