"""Statistics of paired differences between two arms of an experiment (per seed, optionally per scene).

The unit of replication is the training seed: each seed trains every arm with the same initial ORM, data order and
crops, so ``d_s = metric(arm, s) - metric(control, s)`` is a paired difference. The functions below summarise the
``d_s``:

* :func:`t_interval`: mean with a two-sided t confidence interval (``mean ± t_{1-α/2, n-1} · sd / √n``).
* :func:`sign_test`: exact two-sided binomial sign test (zeros dropped).
* :func:`wilcoxon_signed_rank`: Wilcoxon signed-rank test, exact for every n by dynamic programming over the
  (doubled) ranks, so tied absolute values (average ranks) are exact too; zeros dropped.
* :func:`tost`: two one-sided t tests for equivalence within ``±δ`` (equivalent when both reject at ``α``, i.e. the
  ``1 - 2α`` t interval lies inside ``(-δ, δ)``).
* :func:`hierarchical_bootstrap`: two-level bootstrap of the mean difference: seeds with replacement, then scenes
  with replacement within each drawn seed; percentile interval.
* :func:`holm`: Holm's step-down adjustment of a family of p-values.
* :func:`seeds_for_power`: the number of seeds at which a two-sided paired t test at ``α`` detects an effect ``δ``
  with the requested power, given the seed-to-seed standard deviation ``σ`` of the differences (exact power from the
  noncentral t distribution).

scipy (pinned in ``requirements.txt``) provides the t, binomial and noncentral t distributions.
"""
import math
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats as sps


def _clean(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f'Differences must be finite, got {arr.tolist()}')
    return arr


def t_interval(diffs: Sequence[float], confidence: float = 0.95) -> Tuple[float, float, float]:
    """Mean and two-sided t confidence interval of paired differences.

    Args:
        diffs: n >= 1 paired differences.
        confidence: Coverage, e.g. 0.95.

    Returns:
        ``(mean, low, high)``; with n = 1 the interval is ``(-inf, inf)``.
    """
    d = _clean(diffs)
    if d.size == 0:
        raise ValueError('No differences')
    mean = float(d.mean())
    if d.size == 1:
        return mean, -math.inf, math.inf
    half = float(sps.t.ppf(0.5 + confidence / 2, d.size - 1)) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return mean, mean - half, mean + half


def sign_test(diffs: Sequence[float]) -> float:
    """Exact two-sided sign test: ``min(1, 2 P(X <= min(n+, n-)))``, ``X ~ Binomial(n, 1/2)``, zeros dropped.

    Returns:
        The p-value (1.0 when every difference is zero).
    """
    d = _clean(diffs)
    pos, neg = int(np.sum(d > 0)), int(np.sum(d < 0))
    n = pos + neg
    if n == 0:
        return 1.0
    return float(min(1.0, 2.0 * sps.binom.cdf(min(pos, neg), n, 0.5)))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values`` with ties given their average rank."""
    order = np.argsort(values, kind='mergesort')
    ranks = np.empty(values.size, np.float64)
    sorted_values = values[order]
    start = 0
    while start < values.size:
        stop = start
        while stop + 1 < values.size and sorted_values[stop + 1] == sorted_values[start]:
            stop += 1
        ranks[order[start:stop + 1]] = (start + stop) / 2.0 + 1.0
        start = stop + 1
    return ranks


def signed_rank_distribution(ranks: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """Exact null distribution of ``W+ = Σ ranks of the positive differences`` (each sign ±1 with probability 1/2).

    Args:
        ranks: The ranks (integers or halves, as average ranks are).

    Returns:
        ``(values, probabilities)``: every attainable ``W+`` and its probability.
    """
    doubled = np.rint(2 * np.asarray(ranks, dtype=np.float64)).astype(np.int64)
    counts = np.zeros(int(doubled.sum()) + 1, np.float64)
    counts[0] = 1.0
    for r in doubled:  # add rank r to the positive sum or not
        counts[r:] = counts[r:] + counts[:counts.size - r].copy()
    probs = counts / 2.0**len(doubled)
    support = np.nonzero(probs)[0]
    return support / 2.0, probs[support]


def wilcoxon_signed_rank(diffs: Sequence[float]) -> Tuple[float, float]:
    """Exact two-sided Wilcoxon signed-rank test (zeros dropped, ties by average ranks).

    Returns:
        ``(W+, p)`` with ``p = min(1, 2 min(P(W+ <= w), P(W+ >= w)))`` under the exact null distribution; ``(0, 1)``
        when every difference is zero.
    """
    d = _clean(diffs)
    d = d[d != 0]
    if d.size == 0:
        return 0.0, 1.0
    ranks = _average_ranks(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    values, probs = signed_rank_distribution(ranks)
    lower = float(probs[values <= w_plus + 1e-9].sum())
    upper = float(probs[values >= w_plus - 1e-9].sum())
    return w_plus, float(min(1.0, 2.0 * min(lower, upper)))


def tost(diffs: Sequence[float], delta: float, alpha: float = 0.05) -> Tuple[float, bool]:
    """Two one-sided t tests of ``|mean| < delta`` (H0: the mean lies outside ``(-delta, delta)``).

    Returns:
        ``(p, equivalent)``: ``p = max`` of the two one-sided p-values, ``equivalent = p < alpha``; ``(1, False)``
        with fewer than 2 differences or zero spread with a mean outside the margin.
    """
    d = _clean(diffs)
    if delta <= 0:
        raise ValueError(f'delta must be > 0, got {delta}')
    if d.size < 2:
        return 1.0, False
    mean, se = float(d.mean()), float(d.std(ddof=1)) / math.sqrt(d.size)
    if se == 0:
        inside = abs(mean) < delta
        return (0.0 if inside else 1.0), inside
    df = d.size - 1
    p_lower = float(sps.t.sf((mean + delta) / se, df))  # H0: mean <= -delta
    p_upper = float(sps.t.cdf((mean - delta) / se, df))  # H0: mean >= +delta
    p = max(p_lower, p_upper)
    return p, p < alpha


def hierarchical_bootstrap(per_seed_scene: Sequence[Sequence[float]],
                           num_samples: int = 10000,
                           confidence: float = 0.95,
                           seed: int = 0) -> Tuple[float, float]:
    """Percentile interval of the mean paired difference by a two-level bootstrap.

    Each replicate draws seeds with replacement, then, within each drawn seed, its scenes with replacement, and takes
    the mean over everything drawn. Both sources of noise (training seed, choice of test scenes) enter the interval.

    Args:
        per_seed_scene: One sequence of per-scene differences per seed (seeds may have different scene counts).
        num_samples: Bootstrap replicates.
        confidence: Coverage of the percentile interval.
        seed: Seed of the resampling (the result is deterministic).

    Returns:
        ``(low, high)``.
    """
    groups = [_clean(g) for g in per_seed_scene]
    if not groups or any(g.size == 0 for g in groups):
        raise ValueError('Need at least one seed, each with at least one scene')
    rng = np.random.default_rng(seed)
    num_seeds = len(groups)
    means = np.empty(num_samples)
    sizes = np.array([g.size for g in groups])
    for b in range(num_samples):
        picked = rng.integers(0, num_seeds, num_seeds)
        total, count = 0.0, 0
        for s in picked:
            idx = rng.integers(0, sizes[s], sizes[s])
            total += float(groups[s][idx].sum())
            count += int(sizes[s])
        means[b] = total / count
    tail = (1 - confidence) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def holm(p_values: Sequence[float]) -> List[float]:
    """Holm's step-down adjusted p-values (same order as the input), each at most 1."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    order = np.argsort(p, kind='mergesort')
    adjusted = np.empty(m)
    running = 0.0
    for k, index in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def paired_t_power(n: int, effect: float, sigma: float, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t test with ``n`` pairs for a true mean difference ``effect`` (noncentral t)."""
    if n < 2:
        return 0.0
    df = n - 1
    crit = float(sps.t.ppf(1 - alpha / 2, df))
    ncp = effect * math.sqrt(n) / sigma
    return float(sps.nct.sf(crit, df, ncp) + sps.nct.cdf(-crit, df, ncp))


def seeds_for_power(sigma: float, effect: float = 0.3, power: float = 0.8, alpha: float = 0.05,
                    max_n: int = 100000) -> int:
    """The smallest number of seeds whose two-sided paired t test at ``alpha`` has at least ``power`` for ``effect``.

    Args:
        sigma: Seed-to-seed standard deviation of the paired difference (same unit as ``effect``, e.g. dB).
        effect: Smallest effect of interest.
        power: Requested power.
        alpha: Two-sided level.
        max_n: Search limit.

    Returns:
        n >= 2.
    """
    if sigma <= 0 or effect <= 0:
        raise ValueError(f'sigma and effect must be > 0, got {sigma}, {effect}')
    z = float(sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power))
    n = max(2, int(math.floor((z * sigma / effect)**2)) - 1)  # the normal approximation is a lower bound
    while paired_t_power(n, effect, sigma, alpha) < power:
        n += 1
        if n > max_n:
            raise ValueError(f'More than {max_n} seeds needed')
    return n


@dataclass
class ContrastSummary:
    """Everything the report says about one contrast (``arm - control``) on one metric.

    Attributes:
        contrast: e.g. ``'skt - baseline'``.
        metric: e.g. ``'psnr_mu'``.
        n_seeds: Number of paired seeds.
        mean: Mean paired difference.
        sd: Seed-to-seed standard deviation of the difference (NaN for one seed).
        ci_low: Lower end of the 95 % t interval.
        ci_high: Upper end.
        p_t: Two-sided paired t-test p-value (NaN for fewer than 2 seeds or zero spread).
        p_sign: Exact sign test.
        p_wilcoxon: Exact Wilcoxon signed-rank test.
        p_tost: TOST p-value at ``±delta``.
        tost_equivalent: TOST decision at 5 %.
        delta: Equivalence margin.
        boot_low: Two-level bootstrap interval (seeds, then scenes), or NaN without per-scene data.
        boot_high: Its upper end.
        seeds_for_80_power: Seeds for 80 % power at ``delta`` given ``sd`` (None for fewer than 2 seeds).
        p_holm: Holm-adjusted primary p-value within the family (set by :func:`summarise_family`).
    """
    contrast: str
    metric: str
    n_seeds: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    p_t: float
    p_sign: float
    p_wilcoxon: float
    p_tost: float
    tost_equivalent: bool
    delta: float
    boot_low: float
    boot_high: float
    seeds_for_80_power: Optional[int]
    p_holm: Optional[float] = None

    def as_dict(self) -> Dict[str, object]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def summarise(contrast: str, metric: str, diffs: Sequence[float], delta: float,
              per_scene: Optional[Sequence[Sequence[float]]] = None, boot_samples: int = 4000) -> ContrastSummary:
    """All statistics of one contrast from its per-seed differences (and optionally per-seed per-scene ones).

    Args:
        contrast: Label of the contrast.
        metric: Metric name.
        diffs: Per-seed paired differences of the test-mean metric.
        delta: Equivalence margin and smallest effect of interest (same unit).
        per_scene: Per seed, the per-scene paired differences (for the two-level bootstrap).
        boot_samples: Bootstrap replicates.
    """
    d = _clean(diffs)
    mean, low, high = t_interval(d)
    sd = float(d.std(ddof=1)) if d.size > 1 else float('nan')
    p_t = float('nan')
    if d.size > 1 and sd > 0:
        p_t = float(2 * sps.t.sf(abs(mean) / (sd / math.sqrt(d.size)), d.size - 1))
    p_tost, equivalent = tost(d, delta)
    boot = (float('nan'), float('nan'))
    if per_scene is not None:
        boot = hierarchical_bootstrap(per_scene, num_samples=boot_samples)
    power_n = seeds_for_power(sd, delta) if d.size > 1 and sd > 0 else None
    return ContrastSummary(contrast, metric, int(d.size), mean, sd, low, high, p_t, sign_test(d),
                           wilcoxon_signed_rank(d)[1], p_tost, bool(equivalent), float(delta), boot[0], boot[1],
                           power_n)


def summarise_family(summaries: Sequence[ContrastSummary]) -> List[ContrastSummary]:
    """Holm-adjust the t-test p-values of a family of contrasts (e.g. SKT - baseline and SKT - no_semantics on the
    primary metric) in place; a missing p-value (NaN) counts as 1."""
    raw = [s.p_t if math.isfinite(s.p_t) else 1.0 for s in summaries]
    for s, adjusted in zip(summaries, holm(raw) if raw else []):
        s.p_holm = adjusted
    return list(summaries)
