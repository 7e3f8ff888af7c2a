"""The report of Evidence v3 (``research/run_evidence_v3.py``): v2's format (``research/run_evidence.py``'s sections,
JSON summary and score archive) with v3's arms, its contrast family (``skt_u - baseline_l`` primary, ``skt_u -
selftrain_u``; Holm over the two), the share of the ceiling and the wall time of every stage."""
import argparse
import json
import os
import os.path as osp
import platform
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from research import run_evidence as v2
from research.evidence_tables import (Scores, arm_table, contrast_summaries, contrast_table, finished_seeds,
                                      finite_json, merge_scores, readout, scene_mean, scores_to_json,
                                      source_delta_table, validation_scores)
from research.paths import portable_argv, repo_relative
from research.run_evidence_v3 import (ARMS, COMMAND, CONTRASTS, PRIMARY, TEACHERS, half_iters, pretrain_name,
                                      teacher_name)


def shown_command(args: argparse.Namespace) -> str:
    return ' '.join([COMMAND] + portable_argv(args.argv))


def report_paths(args: argparse.Namespace, work: str) -> Tuple[str, str]:
    """(Markdown report, JSON summary): ``--report``, else ``<work>/screen.md`` (validation) or
    ``docs/evidence_v3.md``."""
    report = args.report or (osp.join(work, 'screen.md') if args.validation_only else 'docs/evidence_v3.md')
    return report, osp.splitext(report)[0] + '.json'


def read_validation(work: str, runs: Sequence[Tuple[str, int]], args: argparse.Namespace) -> Dict[str, Any]:
    """Final validation means of every stage-2 run (arm -> seed -> metric -> value), with its teacher's stage-1
    ``teacher*`` metrics for the arms that have a teacher."""
    final: Dict[str, Any] = OrderedDict()
    for arm, seed, _, curves in v2.run_logs(work, runs):
        values = v2.values_at(curves, half_iters(args))
        if values and arm in TEACHERS:
            values.update(v2.teacher_stage_validation(work, TEACHERS[arm], seed, half_iters(args)))
        if values:
            final.setdefault(arm, {})[seed] = values
    return final


def collect_scores(args: argparse.Namespace, work: str, runs: List[Tuple[str, int]], extra: Optional[Dict[str, Any]],
                   earlier: Scores) -> v2.ReportScores:
    """v2's :class:`~research.run_evidence.ReportScores` for v3's arms and contrasts."""
    final_val = read_validation(work, runs, args)
    local = OrderedDict() if args.validation_only else v2.read_test_scores(work, runs, 'evidence_test')
    test_scores = merge_scores(local, earlier, order=list(ARMS))
    from_earlier = [(arm, seed) for arm, per_seed in earlier.items() for seed in per_seed
                    if seed not in local.get(arm, {})]
    extra_scores = v2.read_test_scores(work, runs, 'evidence_extra') if extra is not None else OrderedDict()
    main_scores = validation_scores(final_val) if args.validation_only else test_scores
    return v2.ReportScores(
        split='validation' if args.validation_only else 'test', final_val=final_val, test_scores=test_scores,
        from_earlier=from_earlier, main_scores=main_scores,
        summaries=contrast_summaries(main_scores, per_scene=not args.validation_only, contrasts=CONTRASTS),
        extra_scores=extra_scores,
        extra_summaries=contrast_summaries(extra_scores, contrasts=CONTRASTS) if extra_scores else [],
        done=finished_seeds(main_scores, list(main_scores)))  # every arm in the tables, the archive's too


def ceiling_share(scores: Scores, metric: str = 'psnr_mu') -> Optional[Dict[str, Any]]:
    """(skt_u − baseline_l) / (supervised_lu − baseline_l) of the seed means, over the seeds with all three arms."""
    arms = ('skt_u', 'baseline_l', 'supervised_lu')
    if not all(arm in scores for arm in arms):
        return None
    seeds = sorted(set.intersection(*(set(scores[arm]) for arm in arms)))
    if not seeds:
        return None
    mean = {arm: float(np.mean([scene_mean(scores[arm][s], metric) for s in seeds])) for arm in arms}
    gain, ceiling = mean['skt_u'] - mean['baseline_l'], mean['supervised_lu'] - mean['baseline_l']
    return {'metric': metric, 'seeds': seeds, 'gain_db': gain, 'ceiling_db': ceiling,
            'share': gain / ceiling if ceiling != 0 else float('nan')}


def setup_lines(args: argparse.Namespace, manifest: Dict[str, Any], v3: Dict[str, Any],
                extra: Optional[Dict[str, Any]], runs: List[Tuple[str, int]]) -> List[str]:
    split = v3['v3_split']
    lines = ['## Setup', ''] + v2.data_lines(args, manifest, extra)
    lines += [f'- **L / U split** (`{repo_relative(args.work)}/data_v3/manifest.json`, label seed '
              f'{split["label_seed"]}, U fraction {split["u_fraction"]}): L = {len(v3["scenes"]["labelled"])} scenes '
              f'(photographs {", ".join(v3["labelled_photos"]) or "none"}, {manifest["variants"]} captures each, '
              f'plus {split["labelled_demo"]} generated); U = {len(v3["scenes"]["unlabelled"])} scenes (photographs '
              f'{", ".join(v3["unlabelled_photos"]) or "none"}, {split["unlabelled_variants"]} captures each, plus '
              'generated scenes), GT withheld: the labeller reads a copy without `HDRImg.hdr`. No photograph is in '
              'L and U at once.',
              f'- **Recipe**: stage 0 the ORM on L ({half_iters(args)} iterations, one run per seed); stage 1 the '
              f'teachers on L on the frozen stage-0 EMA ORM ({half_iters(args)} iterations, priors: VGG16 from the '
              f'reference frame); labels `--confidence {args.confidence}`, τ {args.tau}; stage 2 from the stage-0 '
              f'EMA ORM ({half_iters(args)} iterations), λ_u {args.unlabeled_weight}, SKAM on U '
              f'{"on" if args.skam_unlabeled else "off"}; EMA {args.ema_decay}, {args.lr_schedule} decay per stage; '
              'the rest as `options/demo/train_demo_skt_hdrtransformer.yml`.',
              '- **Arms**: ' + '; '.join(f'`{arm}`: {ARMS[arm]}' for arm in dict.fromkeys(a for a, _ in runs)), '']
    return lines


def results_lines(args: argparse.Namespace, scores: v2.ReportScores, timings: Dict[str, Any]) -> List[str]:
    shown = list(v2.METRICS) + ['lpips'] + (list(v2.TEACHER_METRICS) if args.validation_only else [])
    lines = [f'## Results ({scores.split} split)', '',
             f'Seeds with every arm finished: {", ".join(map(str, scores.done)) or "none"}.', '']
    lines += v2.earlier_lines(args, scores)
    lines += [arm_table(scores.main_scores, shown, lambda arm, seed: v2.train_minutes(timings, arm, seed)), '',
              f'Mean over seeds of the {scores.split}-mean metrics ± the seed-to-seed standard deviation (stage-2 '
              'training minutes).', '']
    share = ceiling_share(scores.main_scores)
    if share is not None:
        lines += [f'**Share of the ceiling** (PSNR-μ, seeds {", ".join(map(str, share["seeds"]))}): (skt_u − '
                  f'baseline_l) / (supervised_lu − baseline_l) = {share["gain_db"]:+.3f} / {share["ceiling_db"]:+.3f} '
                  f'dB = {share["share"]:.2f}.', '']
    if scores.summaries:
        lines += ['### Paired contrasts', '', contrast_table(scores.summaries), '',
                  f'Δ = arm − control of the same seed. Primary: `{PRIMARY}` on PSNR-μ; attribution `skt_u - '
                  'selftrain_u`; Holm over the two (paired t tests). TOST: equivalence within ±0.3 dB.', '']
        if not args.validation_only:
            lines += ['**Read-out** (`docs/evidence_v3_plan.md` §6; final only at the number of seeds the rule '
                      'asks for):', ''] + readout(scores.summaries, PRIMARY) + ['']
    return lines


def source_lines(manifest: Dict[str, Any], scores: v2.ReportScores) -> List[str]:
    """The test contrasts against ``baseline_l`` per source photograph (:func:`source_delta_table`); [] on validation
    or when no seed kept per-scene scores."""
    if scores.split != 'test' or not scores.test_scores:
        return []
    control = CONTRASTS[0][1]
    table = source_delta_table(scores.test_scores, control, manifest['photo_sources']['test'])
    if not table:
        return []
    return ['### Per source photograph (test split)', '', table, '',
            f'PSNR-μ, arm − {control}: the mean over the captures of each test photograph (the generated scenes '
            'together), then over the seeds with per-scene scores. A diagnostic added after pilot seeds 1 and 2 (the '
            'ceiling arm lost on one photograph only); it is not part of the plan\'s rule.', '']


def stage_rows(runs: Sequence[Tuple[str, int]], timings: Dict[str, Any]) -> List[Tuple[str, float]]:
    """(stage, seconds) of every recorded stage: data, priors, then per seed stage 0, teachers, labels, stage 2 and
    tests."""
    rows = [(label, timings[key]) for key, label in (('data_v2_s', 'data (v2 scenes)'), ('data_v3_s', 'data (L / U)'),
                                                     ('priors_s', 'priors (L, validation)')) if key in timings]
    for seed in dict.fromkeys(seed for _, seed in runs):
        arms = [arm for arm, s in runs if s == seed]
        names = [(pretrain_name(seed), 'train_s', f'stage 0 s{seed}')]
        names += [(teacher_name(t, seed), 'train_s', f'teacher {t} s{seed}')
                  for t in dict.fromkeys(TEACHERS[a] for a in arms if a in TEACHERS)]
        names += [(f'labels_{a}_s{seed}', 'label_s', f'labels {a} s{seed}') for a in arms
                  if a in ('skt_u', 'selftrain_u')]
        names += [(v2.run_name(a, seed), key, f'{what} {a} s{seed}') for a in arms
                  for key, what in (('train_s', 'stage 2'), ('test_s', 'test'))]
        rows += [(label, timings[name][key]) for name, key, label in names if key in timings.get(name, {})]
    return rows


def wall_time_lines(args: argparse.Namespace, runs: Sequence[Tuple[str, int]], timings: Dict[str, Any]) -> List[str]:
    rows = stage_rows(runs, timings)
    per_seed = {seed: sum(s for label, s in rows if label.endswith(f' s{seed}')) for seed in
                dict.fromkeys(seed for _, seed in runs)}
    lines = ['## Wall time', '', '| stage | seconds |', '|---|---|'] + [f'| {label} | {s:.1f} |' for label, s in rows]
    return lines + ['', 'One seed of all arms (sum of its stages, CPU-side): ' + ', '.join(
        f's{seed} {s / 60:.1f} min' for seed, s in per_seed.items()) + f'. Runs went {args.jobs} side by side with '
        f'{args.threads} thread(s) each.', '']


def print_wall_times(runs: Sequence[Tuple[str, int]], timings: Dict[str, Any]) -> None:
    for label, seconds in stage_rows(runs, timings):
        print(f'{label:40s} {seconds:8.1f} s')


def write_report(args: argparse.Namespace, work: str, manifest: Dict[str, Any], v3: Dict[str, Any],
                 extra: Optional[Dict[str, Any]], runs: List[Tuple[str, int]], timings: Dict[str, Any],
                 earlier: Scores) -> Tuple[str, str]:
    """The Markdown report, its PNGs, the JSON summary (v2's format plus ``ceiling_share``) and the score archive."""
    report, json_path = report_paths(args, work)
    report_dir = osp.dirname(osp.abspath(report))
    os.makedirs(report_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(report))[0]
    scores = collect_scores(args, work, runs, extra, earlier)
    lines = ['# Evidence v3: SKT on unlabelled brackets' + (' (validation screen)' if args.validation_only else ''),
             '', '*Generated by `research/run_evidence_v3.py` from the runs\' own outputs; the plan is '
             '`docs/evidence_v3_plan.md`.*', '', '## Command', '', '```bash', shown_command(args), '```', '',
             f'Report written at commit `{v2.git_commit()}`; machine: {platform.machine()}, {os.cpu_count()} CPU '
             f'cores; {time.strftime("%Y-%m-%d %H:%M")}.', '']
    lines += setup_lines(args, manifest, v3, extra, runs) + results_lines(args, scores, timings)
    lines += v2.region_lines(args, work, scores, report_dir, stem) + source_lines(manifest, scores)
    lines += v2.extra_test_lines(extra, scores)
    if scores.split == 'test' and scores.test_scores:
        lines += v2.compare_page_lines(work, scores.test_scores, stem)
    plots = v2.write_curve_plots(work, runs, report_dir, stem)
    lines += ['## Training curves', ''] + [line for title, name in plots for line in (f'![{title}]({name})', '')]
    if args.notes:
        lines += v2.notes_lines(args.notes, report_dir)
    lines += wall_time_lines(args, runs, timings)
    with open(report, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    summary = v2.summary_json(args, scores)
    summary.update(command=shown_command(args), primary=PRIMARY, ceiling_share=ceiling_share(scores.main_scores))
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(finite_json(summary), f, indent=1)
    if scores.test_scores:
        with open(osp.splitext(report)[0] + '_scores.json', 'w', encoding='utf-8') as f:
            json.dump(scores_to_json(scores.test_scores), f, indent=None, separators=(',', ':'))
            f.write('\n')
    return report, json_path
