"""Configs of screen 5 in research/evidence_notes.md (stage 2 of the staged recipe, 2026-12-04), kept as run.

Every arm fine-tunes the same frozen ORM of screen 4 (baseline seed 0, EMA weights after 1,200 iterations) for
``--iters`` more iterations with the recipe of ``run_evidence.py`` (cosine decay restarted at 5e-4, EMA with warm-up):

* ``control``: no teacher, no distillation (the matched control of
  ``options/train_hdrtransformer_finetune_control.yml``);
* ``student_none``: ``skt.mode: staged_student`` with screen 4's prior-free teacher of the same seed (arm A);
* ``student_oracle``: the same with screen 4's oracle-prior SFT teacher of the same seed (arm B).

Student seed s reads teacher seed s; the distillation starts at iteration 0 (the teacher is already trained on this
ORM). From the repository root, with the screen's work folder (made as in ``make_teacher_screen_configs.py``):

    python -m research.screen_20261204.make_student_screen_configs --work ../screen4 --iters 1200 --seeds 0 1
    # screen 6 variants of stage 2 (names get _lr<lr> / _joint)
    python -m research.screen_20261204.make_student_screen_configs --work ../screen4 --iters 1200 --seeds 0 \
        --lr 1e-4
    python -m research.screen_20261204.make_student_screen_configs --work ../screen4 --iters 1200 --seeds 0 \
        --mode joint --arms student_none student_oracle
    # screen 7: the distillation terms 10x stronger (names get _w10); control seed 2 for the third seed
    python -m research.screen_20261204.make_student_screen_configs --work ../screen4 --iters 1200 --seeds 0 1 2 \
        --distill-scale 10 --arms student_none student_oracle
    python -m research.screen_20261204.make_student_screen_configs --work ../screen4 --iters 1200 --seeds 2 \
        --arms control

then ``research/screen_20261204/run_screen_configs.sh <work> student_configs net_g <names>`` (``python -m
research.train``: the oracle teacher reads the oracle priors; OMP_NUM_THREADS=1, cwd <work>).
"""
import argparse
import copy
import os
import os.path as osp
from typing import List, Optional

from research import run_evidence

ARMS = {  # name: (run_evidence arm giving the config, screen-4 teacher run or None)
    'control': ('baseline', None),
    'student_none': ('no_semantics', 'teacher_none_i1200_s{seed}'),
    'student_oracle': ('oracle_teacher', 'teacher_oracle_sft_i1200_s{seed}'),
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work', required=True, help='the screen\'s work folder (data_oracle, experiments)')
    parser.add_argument('--iters', type=int, default=1200)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--lr', type=float, default=None,
                        help='stage-2 learning rate (screen 6; default: the recipe\'s)')
    parser.add_argument('--mode', choices=['staged_student', 'joint'], default='staged_student',
                        help='stage 2: frozen teacher (screen 5), or the pre-trained teacher keeps learning (screen 6)')
    parser.add_argument('--arms', nargs='+', choices=list(ARMS), default=list(ARMS))
    parser.add_argument('--distill-scale', type=float, default=None,
                        help='multiplies the loss weights of the content, colour and SKAM terms (screen 7)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    cli = parse_args(argv)
    work = osp.abspath(cli.work)  # the configs are trained with cwd <work>: absolute paths inside them
    orm = osp.join(work, 'experiments', 'evidence_baseline_s0', 'models', 'net_g_1200.pth')
    tag = ('' if cli.lr is None else f'_lr{cli.lr:g}') + ('' if cli.mode == 'staged_student' else '_joint') + (
        '' if cli.distill_scale is None else f'_w{cli.distill_scale:g}')
    args = run_evidence.parse_args(['--iters', str(cli.iters), '--num-val-points', '4'])
    os.makedirs(osp.join(work, 'student_configs'), exist_ok=True)
    for seed in cli.seeds:
        for name in cli.arms:
            arm, teacher = ARMS[name]
            # the same scenes and crops for every arm; only the oracle teacher reads the prior files
            opt = copy.deepcopy(run_evidence.train_options(arm, seed, osp.join(work, 'data_oracle'), args))
            opt['name'] = f'{name}{tag}_i{cli.iters}_s{seed}'
            if cli.lr is not None:
                opt['train']['optim_g']['lr'] = cli.lr
            opt['path'].update(pretrain_network_g=orm, param_key_g='params_ema', strict_load_g=True)
            if teacher is not None:
                opt['skt'].update(mode=cli.mode, distill_warmup_iter=0, val_teacher_zeroed_priors=False)
                run_evidence.scale_distillation(opt['skt'], cli.distill_scale or 1.0)
                teacher_run = teacher.format(seed=seed)
                opt['path'].update(
                    pretrain_network_t=osp.join(work, 'experiments', teacher_run, 'models', f'net_t_{cli.iters}.pth'),
                    param_key_t='params', strict_load_t=True)
            print(run_evidence.dump_yaml(opt, osp.join(work, 'student_configs', f"{opt['name']}.yml")))


if __name__ == '__main__':
    main()
