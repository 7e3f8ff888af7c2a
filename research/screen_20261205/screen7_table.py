"""Screen 7 of research/evidence_notes.md: the plan's paired contrasts from the runs' own validation logs.

The validation report of ``run_evidence.py`` (``screen.md``) has the per-arm tables but no contrast between these
three arms (its contrasts are those of the test plan), so this reads the final validation metrics with
``run_evidence.read_validation`` and prints, per seed and over seeds (mean, 95 % t-interval), the differences the
screen-7 rules name. Two teacher columns: the teacher on the frozen stage-0 ORM it was trained on (its stage-1 run's
last validation, what the report shows) and the same frozen teacher on the final live (non-EMA) student, which is
what it refines in training, beside that live student's own score (the stage-2 run's last validation). Run with
the screen's own arguments after ``--``:

    python -m research.screen_20261205.screen7_table -- --hdr-dir ../shared/data/hdr --validation-only \
        --work evidence_screen7 --skt-mode staged --runs oracle_teacher no_semantics finetune_control \
        --distill-scale 10 --seeds 0 1 2
"""
import os.path as osp
import sys
from typing import List, Optional

from research import run_evidence as evidence
from research.stats import t_interval

CONTRASTS = (('oracle_teacher', 'finetune_control', 'rule 1: oracle_w10 - control'),
             ('no_semantics', 'finetune_control', 'rule 2: none_w10 - control'),
             ('oracle_teacher', 'no_semantics', 'rule 3: oracle_w10 - none_w10 (descriptive)'))


def last_validation(work: str, name: str, metric: str):
    """The last validation value of ``metric`` in the logs of run ``name`` (None when it has none)."""
    try:
        curves = evidence.validation_curves(evidence.read_experiment_logs(osp.join(work, 'experiments', name)))
    except FileNotFoundError:
        return None
    points = curves.get('evidence_val', {}).get(metric, [])
    return points[-1][1] if points else None


def main(argv: Optional[List[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    argv = argv[argv.index('--') + 1:] if '--' in argv else argv
    args = evidence.parse_args(argv)
    final = evidence.read_validation(args.work, evidence.planned_runs(args), args)
    print('| arm | seed | ORM PSNR-μ (EMA) | teacher on the stage-0 ORM | the same, priors zeroed | live student | '
          'teacher on the live student |')
    print('|---|---|---|---|---|---|---|')
    for arm, per_seed in final.items():
        for seed, values in sorted(per_seed.items()):
            cells = [values.get(k) for k in ('psnr_mu', 'teacher_psnr_mu', 'teacher0_psnr_mu')]
            cells += [last_validation(args.work, evidence.run_name(arm, seed), m)
                      for m in ('live_psnr_mu', 'teacher_psnr_mu')]
            print(f'| {arm} | {seed} | ' + ' | '.join('–' if v is None else f'{v:.4f}' for v in cells) + ' |')
    for seed in sorted({s for per_seed in final.values() for s in per_seed}):
        stage0 = last_validation(args.work, f'evidence_pretrain_s{seed}', 'psnr_mu')
        print(f'| stage-0 ORM (the start of every arm) | {seed} | ' + ('–' if stage0 is None else f'{stage0:.4f}')
              + ' | – | – | – | – |')
    print('\n| contrast (validation PSNR-μ, dB) | per seed | mean | 95 % t-interval |')
    print('|---|---|---|---|')
    for arm, control, label in CONTRASTS:
        seeds = sorted(set(final.get(arm, {})) & set(final.get(control, {})))
        diffs = [final[arm][s]['psnr_mu'] - final[control][s]['psnr_mu'] for s in seeds]
        if not diffs:
            continue
        mean, low, high = t_interval(diffs)
        per_seed = ', '.join(f's{s} {d:+.3f}' for s, d in zip(seeds, diffs))
        interval = f'[{low:+.3f}, {high:+.3f}]' if len(diffs) > 1 else '–'
        print(f'| {label} | {per_seed} | {mean:+.3f} | {interval} |')


if __name__ == '__main__':
    main()
