"""Tables and pictures of the evidence report (``research/run_evidence.py``): the pre-registered contrasts, per-arm
means, the data's hard-pixel shares, the oracle acceptance check and the scene crops.

Everything here works on :data:`Scores` (arm -> seed -> scene -> metric -> value) read from the runs' own outputs;
nothing is typed by hand. The plan's numbers (``docs/evidence_plan.md``) are the constants below.
"""
import math
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from basicsr_skt.utils.hdr_io import read_hdr
from basicsr_skt.utils.tonemap import mu_law
from research.evidence_data import capture_source
from research.stats import ContrastSummary, summarise, summarise_family

Scores = Dict[str, Dict[int, 'OrderedDict[str, Dict[str, float]]']]  # arm -> seed -> scene -> metric -> value
Final = Dict[str, Dict[int, Dict[str, float]]]  # arm -> seed -> metric -> final validation value

#: (arm, control) pairs of the pre-registered family (Holm over these on the primary metric); a pair is left out when
#: either arm was not run (``finetune_control`` only exists with ``--skt-mode staged``).
CONTRASTS = (('skt', 'baseline'), ('skt', 'no_semantics'), ('skt', 'finetune_control'))
#: Metrics of the contrasts: the primary one first, then the secondary ones (LPIPS only when its weights exist).
CONTRAST_METRICS = ('psnr_mu', 'ssim_mu', 'lpips')
EQUIVALENCE_MARGIN = 0.3  # dB PSNR-μ; the smallest effect of interest
ORACLE_MARGIN = 1.0  # dB: the oracle teacher must beat the prior-free teacher by this much on validation
ORACLE_CELL = 4  # px: the oracle prior is the μ-law GT pooled to cells of this size
#: The one "scene" of a seed whose per-scene values are gone (its run folders were lost) and only its test-mean metrics
#: are known: such a seed enters the t-based statistics and the per-arm tables, not the scene bootstrap or the crops.
MEAN_ONLY_SCENE = 'test_mean'
SCORES_FORMAT = 1  # version of the score archive written by :func:`scores_to_json`


def scene_mean(scenes: Dict[str, Dict[str, float]], metric: str) -> float:
    """Mean of ``metric`` over scenes where it is defined (region metrics are NaN for scenes without the region)."""
    values = [v[metric] for v in scenes.values() if metric in v and not math.isnan(v[metric])]
    return float(np.mean(values)) if values else float('nan')


def mean_only(scenes: Dict[str, Dict[str, float]]) -> bool:
    """True when a run's scores are only its test means (:data:`MEAN_ONLY_SCENE`), not per-scene values."""
    return list(scenes) == [MEAN_ONLY_SCENE]


def merge_scores(scores: Scores, earlier: Scores, order: Sequence[str] = ()) -> Scores:
    """``scores`` plus the (arm, seed) runs of ``earlier`` that ``scores`` lacks (a run present in both keeps its
    ``scores`` values); the arms of ``order`` first, in that order, then the others in the order first seen; seeds
    sorted. With ``order``, the tables read the same whichever arms were trained last."""
    merged: Scores = OrderedDict()
    for source in (scores, earlier):
        for arm, per_seed in source.items():
            for seed, scenes in per_seed.items():
                merged.setdefault(arm, {}).setdefault(seed, scenes)
    arms = [arm for arm in order if arm in merged] + [arm for arm in merged if arm not in order]
    return OrderedDict((arm, dict(sorted(merged[arm].items()))) for arm in arms)


def scores_to_json(scores: Scores, digits: int = 6) -> Dict[str, Any]:
    """The archive form of ``scores`` (JSON keys are strings; values rounded to ``digits``; NaN becomes null): what a
    later report on another machine reads back with :func:`scores_from_json` when the run folders are gone."""
    return {'format': SCORES_FORMAT, 'scores': {
        arm: {str(seed): {scene: {m: (round(v, digits) if math.isfinite(v) else None) for m, v in values.items()}
                          for scene, values in scenes.items()} for seed, scenes in per_seed.items()}
        for arm, per_seed in scores.items()}}


def scores_from_json(data: Dict[str, Any], source: str = 'scores') -> Scores:
    """Inverse of :func:`scores_to_json` (null becomes NaN).

    Raises:
        ValueError: ``data`` is not a score archive of this format (the message names ``source``).
    """
    if not isinstance(data, dict) or data.get('format') != SCORES_FORMAT or not isinstance(data.get('scores'), dict):
        raise ValueError(f'{source}: not a score archive of format {SCORES_FORMAT} (a JSON object with "format": '
                         f'{SCORES_FORMAT} and "scores": arm -> seed -> scene -> metric -> value), as written beside '
                         'a report by research/run_evidence.py (<report>_scores.json)')
    try:
        return OrderedDict((arm, {int(seed): OrderedDict(
            (scene, {m: float('nan') if v is None else float(v) for m, v in values.items()})
            for scene, values in scenes.items()) for seed, scenes in per_seed.items()})
            for arm, per_seed in data['scores'].items())
    except (AttributeError, TypeError, ValueError) as err:
        raise ValueError(f'{source}: malformed score archive ({err}); expected arm -> seed (an integer) -> scene -> '
                         'metric -> number') from None


def finished_seeds(scores: Scores, arms: Sequence[str]) -> List[int]:
    """Seeds for which every arm of ``arms`` has results."""
    sets = [set(scores.get(arm, {})) for arm in arms]
    return sorted(set.intersection(*sets)) if sets else []


def contrast_summaries(scores: Scores, delta: float = EQUIVALENCE_MARGIN, per_scene: bool = True,
                       contrasts: Sequence[Tuple[str, str]] = CONTRASTS) -> List[ContrastSummary]:
    """Every contrast of ``contrasts`` (arm, control; default :data:`CONTRASTS`, v2's) with both arms present, on
    every metric of :data:`CONTRAST_METRICS` present, over the seeds both arms finished; Holm over the primary
    metric's (PSNR-μ) contrasts.

    Args:
        scores: Per-scene metrics of every run.
        delta: Equivalence margin and effect of interest (dB PSNR-μ): TOST and the seeds for 80 % power.
        per_scene: Also bootstrap over scenes within seeds (False for validation means: one pseudo-scene). The
            bootstrap is left out (NaN) when a seed has only its test mean (:data:`MEAN_ONLY_SCENE`).
        contrasts: (arm, control) pairs, the family Holm adjusts over (their PSNR-μ contrasts).
    """
    summaries, primary = [], []
    for arm, control in contrasts:
        if arm not in scores or control not in scores:
            continue
        seeds = sorted(set(scores[arm]) & set(scores[control]))
        if not seeds:
            continue
        for metric in CONTRAST_METRICS:
            if any(metric not in next(iter(scores[a][s].values()), {}) for a in (arm, control) for s in seeds):
                continue
            diffs = [scene_mean(scores[arm][s], metric) - scene_mean(scores[control][s], metric) for s in seeds]
            scene_diffs = None
            if per_scene and not any(mean_only(scores[a][s]) for a in (arm, control) for s in seeds):
                scene_diffs = [[scores[arm][s][sc][metric] - scores[control][s][sc][metric]
                                for sc in scores[arm][s] if sc in scores[control][s]] for s in seeds]
            summary = summarise(f'{arm} - {control}', metric, diffs, delta, per_scene=scene_diffs)
            if metric != 'psnr_mu':  # the margin is in dB PSNR-μ: no equivalence test or power for other metrics
                summary.p_tost, summary.tost_equivalent, summary.seeds_for_80_power = float('nan'), False, None
                summary.delta = float('nan')
            summaries.append(summary)
            if metric == 'psnr_mu':
                primary.append(summary)
    summarise_family(primary)
    return summaries


def primary_contrast(scores: Scores) -> str:
    """The plan's primary contrast: SKT against the matched control when it was run (staged), else the baseline."""
    return 'skt - finetune_control' if 'finetune_control' in scores else 'skt - baseline'


def reading(summary: ContrastSummary, alpha: float = 0.05) -> str:
    """The plan's reading of one PSNR-μ contrast (``docs/evidence_plan.md`` §6.4-5), from its numbers only.

    Significant after Holm: the effect with its interval; else TOST-equivalent: smaller than the margin; else
    inconclusive. When the sign or Wilcoxon test disagrees with a significant t test, or TOST with a significant
    effect, the sentence says so (and says when the seeds cannot make them significant at all: an exact sign test on
    n seeds has p >= 2^(1-n)).
    """
    effect = (f'mean Δ {summary.mean:+.3f} dB (95 % CI [{summary.ci_low:+.3f}, {summary.ci_high:+.3f}], '
              f'{summary.n_seeds} seeds)')
    p_holm = summary.p_holm if summary.p_holm is not None else summary.p_t
    if math.isfinite(p_holm) and p_holm < alpha:
        text = (f'**{"improves" if summary.mean > 0 else "hurts"}**: {effect}, Holm-adjusted p {p_holm:.3f}')
        weak = [name for name, p in (('sign', summary.p_sign), ('Wilcoxon', summary.p_wilcoxon)) if not p < alpha]
        if weak:
            floor = 2.0**(1 - summary.n_seeds)
            cannot = f', which {summary.n_seeds} seeds cannot give (smallest possible p {floor:.3f})' \
                if floor >= alpha else ''
            text += f'; not confirmed at 5 % by the {" / ".join(weak)} test{cannot}: the claim rests on the t test'
        if summary.tost_equivalent:
            text += f'; it is also inside ±{summary.delta:g} dB (TOST p {summary.p_tost:.3f}): real but small'
        return text + '.'
    if summary.tost_equivalent:
        return (f'**no effect of ±{summary.delta:g} dB or more** (TOST p {summary.p_tost:.3f}): {effect}, '
                f'Holm-adjusted p {fmt(p_holm)}.')
    need = '–' if summary.seeds_for_80_power is None else str(summary.seeds_for_80_power)
    return (f'**inconclusive** at this budget: {effect}, Holm-adjusted p {fmt(p_holm)}, TOST p {fmt(summary.p_tost)}; '
            f'80 % power at {summary.delta:g} dB would need {need} seeds.')


def readout(summaries: Sequence[ContrastSummary], primary: str) -> List[str]:
    """Markdown lines: the plan's reading of every PSNR-μ contrast, ``primary`` (:func:`primary_contrast`) first."""
    rows = sorted((s for s in summaries if s.metric == 'psnr_mu'), key=lambda s: s.contrast != primary)
    return [f'- `{s.contrast}`{" (primary)" if s.contrast == primary else ""}: {reading(s)}' for s in rows]


def fmt(value: Optional[float], digits: int = 3, signed: bool = False) -> str:
    """``value`` with ``digits`` decimals (a sign when ``signed``); ``–`` for None, NaN and inf."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return '–'
    return f'{value:+.{digits}f}' if signed else f'{value:.{digits}f}'


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ['| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|']
    return '\n'.join(lines + ['| ' + ' | '.join(cells) + ' |' for cells in rows])


def contrast_table(summaries: Sequence[ContrastSummary]) -> str:
    """One row per contrast and metric: mean Δ, t interval, tests, TOST, bootstrap interval and the seeds needed."""
    header = ['contrast', 'metric', 'seeds', 'mean Δ', '95 % CI', 'p (t)', 'p Holm', 'p sign', 'p Wilcoxon',
              'TOST ±0.3 dB', 'bootstrap 95 % (seeds, scenes)', 'seeds for 80 % power at 0.3 dB']
    rows = []
    for s in summaries:
        tost_cell = '–' if s.metric != 'psnr_mu' else ('equivalent' if s.tost_equivalent else 'not shown') + \
            f' (p {fmt(s.p_tost)})'
        rows.append([s.contrast, s.metric, str(s.n_seeds), fmt(s.mean, 4, True),
                     f'[{fmt(s.ci_low, 4, True)}, {fmt(s.ci_high, 4, True)}]', fmt(s.p_t), fmt(s.p_holm),
                     fmt(s.p_sign), fmt(s.p_wilcoxon), tost_cell,
                     f'[{fmt(s.boot_low, 4, True)}, {fmt(s.boot_high, 4, True)}]',
                     '–' if s.seeds_for_80_power is None else str(s.seeds_for_80_power)])
    return markdown_table(header, rows)


def mean_sd(values: Sequence[float]) -> str:
    """``mean ± sd`` (sample standard deviation) of the finite values; the value alone for one, ``–`` for none."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return '–'
    if len(finite) == 1:
        return f'{finite[0]:.4f}'
    return f'{np.mean(finite):.4f} ± {np.std(finite, ddof=1):.4f}'


def arm_table(scores: Scores, metrics: Sequence[str],
              train_minutes: Optional[Callable[[str, int], Optional[float]]] = None) -> str:
    """Per arm: the mean over seeds of the scene-mean metrics (± seed standard deviation); metrics no run has are
    left out. ``train_minutes(arm, seed)`` adds a column of training times (``?`` where unknown)."""
    present = [m for m in metrics if any(m in next(iter(per_seed[s].values()), {}) for per_seed in scores.values()
                                         for s in per_seed)]
    header = ['arm', 'seeds'] + present + (['train min'] if train_minutes is not None else [])
    rows = []
    for label, per_seed in scores.items():
        seeds = sorted(per_seed)
        cells = [label, ', '.join(map(str, seeds))] + [mean_sd([scene_mean(per_seed[s], m) for s in seeds])
                                                       for m in present]
        if train_minutes is not None:
            minutes = [train_minutes(label, s) for s in seeds]
            cells.append(', '.join('?' if m is None else f'{m:.1f}' for m in minutes))
        rows.append(cells)
    return markdown_table(header, rows)


def validation_scores(final: Final) -> Scores:
    """Final validation means in the layout of :data:`Scores` (one pseudo-scene ``mean`` per seed)."""
    return OrderedDict((label, {s: OrderedDict(mean=values) for s, values in per_seed.items()})
                       for label, per_seed in final.items())


def oracle_check(final: Final) -> List[str]:
    """The data's acceptance check (validation, Markdown lines): the ``oracle_teacher`` arm's teacher against the
    prior-free teacher of ``no_semantics``, per seed; passed when the mean lead is at least :data:`ORACLE_MARGIN`."""
    lines = ['## Oracle-prior acceptance check (validation)', '',
             f'The data leave room for semantics only if a teacher given the oracle prior (the μ-law GT pooled to '
             f'{ORACLE_CELL}-px cells: an upper bound for any prior, diagnostics only, never a claim) beats the same '
             f'teacher without priors (`no_semantics`) by at least {ORACLE_MARGIN:.1f} dB PSNR-μ on validation.', '']
    oracle, plain = final.get('oracle_teacher', {}), final.get('no_semantics', {})
    key = 'teacher_psnr_mu'
    rows = [(s, oracle[s].get(key), plain[s].get(key), oracle[s].get('psnr_mu'), oracle[s].get('teacher0_psnr_mu'))
            for s in sorted(set(oracle) & set(plain))]
    rows = [r for r in rows if r[1] is not None and r[2] is not None]
    if not rows:
        return lines + ['Not measured: run the arms `oracle_teacher` and `no_semantics` (e.g. with '
                        f'`--validation-only`); their validation logs need `{key}` (the teacher\'s held-out '
                        'metric).', '']
    deltas = [with_oracle - without for _, with_oracle, without, _, _ in rows]
    lines.append(markdown_table(
        ['seed', 'teacher, oracle prior', 'teacher, no priors', 'Δ', 'ORM of the oracle run',
         'oracle teacher, priors zeroed'],
        [[str(s), f'{a:.4f}', f'{b:.4f}', f'{a - b:+.4f}', fmt(orm, 4), fmt(zeroed, 4)]
         for s, a, b, orm, zeroed in rows]))
    verdict = 'passed' if np.mean(deltas) >= ORACLE_MARGIN else (
        'FAILED: even a perfect coarse prior does not lift this teacher enough (too little room in the data, or a '
        'teacher that does not use its priors)')
    return lines + ['', f'Mean Δ {np.mean(deltas):+.3f} dB over {len(deltas)} seed(s): **{verdict}**.', '']


def share_table(manifest: Dict[str, Any], extra: Optional[Dict[str, Any]]) -> str:
    """Per split (in the manifest's order): scenes, and the mean shares of saturated, near-black, motion and missing
    reference pixels."""
    groups = list(manifest['shares'].items())
    if extra is not None:
        groups.append(('extra test', extra['shares']))
    keys = ('saturated', 'dark', 'motion', 'missing', 'missing_occluded')
    rows = [[split, str(len(shares))] + [f'{100 * np.mean([s[key] for s in shares.values()]):.2f}' for key in keys]
            for split, shares in groups if shares]
    return markdown_table(['split', 'scenes', 'saturated ref. %', 'near-black ref. %', 'motion %', 'missing %',
                           'missing by occlusion %'], rows)


def largest_delta_scenes(scores: Scores, count: int = 3) -> List[Tuple[str, float]]:
    """The ``count`` test scenes with the largest |mean over seeds of (SKT − baseline) PSNR-μ|."""
    if 'skt' not in scores or 'baseline' not in scores:
        return []
    seeds = sorted(s for s in set(scores['skt']) & set(scores['baseline'])
                   if not mean_only(scores['skt'][s]) and not mean_only(scores['baseline'][s]))
    deltas = {}
    for scene in scores['skt'][seeds[0]] if seeds else []:
        values = [scores['skt'][s][scene]['psnr_mu'] - scores['baseline'][s][scene]['psnr_mu'] for s in seeds
                  if scene in scores['skt'][s] and scene in scores['baseline'][s]]
        deltas[scene] = float(np.mean(values))
    return sorted(deltas.items(), key=lambda item: -abs(item[1]))[:count]


def scene_source(scene: str, photographs: Sequence[str]) -> str:
    """The photograph of ``photographs`` that ``scene`` was simulated from (:func:`capture_source`), else
    ``generated``."""
    photo = capture_source(scene)
    return photo if photo in photographs else 'generated'


def source_delta_table(scores: Scores, control: str, photographs: Sequence[str], metric: str = 'psnr_mu') -> str:
    """Per source photograph (the generated scenes together, then all scenes): every other arm − ``control`` on
    ``metric``, the mean over the source's scenes, then over the seeds where every arm kept per-scene scores; '' when no
    seed has. Shows whether a contrast's mean comes from every photograph or from one."""
    arms = [arm for arm in scores if arm != control]
    seeds = [s for s in finished_seeds(scores, list(scores)) if not any(mean_only(scores[a][s]) for a in scores)]
    if control not in scores or not arms or not seeds:
        return ''
    scenes = [scene for scene in scores[control][seeds[0]] if all(scene in scores[a][s] for a in scores for s in seeds)]
    groups: 'OrderedDict[str, List[str]]' = OrderedDict()
    for scene in scenes:
        groups.setdefault(scene_source(scene, photographs), []).append(scene)
    groups['all scenes'] = scenes
    rows = []
    for source, members in groups.items():
        deltas = [np.mean([np.mean([scores[arm][s][scene][metric] - scores[control][s][scene][metric]
                                    for scene in members]) for s in seeds]) for arm in arms]
        rows.append([source, str(len(members))] + [fmt(float(d), 2, True) for d in deltas])
    return markdown_table(['source', 'scenes'] + [f'{arm} − {control}' for arm in arms], rows)


def labelled(image: np.ndarray, label: str) -> np.ndarray:
    """A copy of the uint8 image with ``label`` written in its top-left corner."""
    tile = np.ascontiguousarray(image).copy()
    cv2.putText(tile, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def scene_picture(gt_path: str, predictions: Dict[str, str], crop: int = 96) -> np.ndarray:
    """One strip: per arm the μ-law prediction and its error map (|T(pred) − T(gt)| x 4), then the μ-law GT; a
    ``crop``-px window where SKT and the baseline differ most (or where the only arm errs most).

    Args:
        gt_path: The scene's linear HDR ground truth.
        predictions: arm -> its saved linear HDR prediction of the scene (at least one).

    Returns:
        uint8 BGR image, ``crop`` rows high.
    """
    gt = read_hdr(gt_path)
    preds = {arm: read_hdr(path) for arm, path in predictions.items()}
    t_gt = mu_law(np.clip(gt, 0, 1))
    errors = {arm: np.abs(mu_law(np.clip(p, 0, 1)) - t_gt).mean(axis=2) for arm, p in preds.items()}
    height, width = gt.shape[:2]
    size = min(crop, height, width)
    diff = np.abs(errors.get('skt', 0) - errors.get('baseline', 0)) if len(errors) > 1 else next(iter(errors.values()))
    density = cv2.boxFilter(np.asarray(diff, np.float32), -1, (size, size), normalize=True)
    half = size // 2
    inner = density[half:height - size + half + 1, half:width - size + half + 1]
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape)
    window = (slice(y, y + size), slice(x, x + size))

    def to8(img: np.ndarray) -> np.ndarray:
        return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)

    tiles = []
    for arm, pred in preds.items():
        err = cv2.applyColorMap(to8(4 * errors[arm][window]), cv2.COLORMAP_INFERNO)
        tiles += [labelled(to8(mu_law(np.clip(pred, 0, 1))[window]), arm), labelled(err, f'{arm} err x4')]
    tiles.append(labelled(to8(t_gt[window]), 'GT'))
    return np.concatenate(tiles, axis=1)


def mean_curves(
        curves: Dict[Tuple[str, int], Sequence[Tuple[int, float]]]) -> 'OrderedDict[str, List[Tuple[int, float]]]':
    """One curve per arm: the mean over its seeds at the iterations every one of them logged.

    Args:
        curves: (arm, seed) -> [(iteration, value), ...]; empty curves are ignored.

    Returns:
        ``'<arm> (mean of n seeds)'`` -> [(iteration, mean), ...], arms in first-seen order (one series per arm, so a
        chart stays readable at any number of seeds).
    """
    by_arm: 'OrderedDict[str, List[Dict[int, float]]]' = OrderedDict()
    for (arm, _), points in curves.items():
        if points:
            by_arm.setdefault(arm, []).append(dict(points))
    means = OrderedDict()
    for arm, runs in by_arm.items():
        common = sorted(set.intersection(*(set(run) for run in runs)))
        name = arm if len(runs) == 1 else f'{arm} (mean of {len(runs)} seeds)'
        means[name] = [(it, float(np.mean([run[it] for run in runs]))) for it in common]
    return means


def finite_json(value: Any) -> Any:
    """``value`` with NaN / inf replaced by None at any depth (strict JSON)."""
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
