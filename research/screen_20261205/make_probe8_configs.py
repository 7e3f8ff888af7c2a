"""Configs of probe 8 in research/evidence_notes.md (which ×10 term hurts? 2026-12-05), kept as run.

Each config is screen 7's stage-2 config of the oracle-prior student of seed 0 (`student_oracle_w10`, every
distillation weight ×10) with one weight put back to the paper's scale and the gradient diagnostics on (every 30
iterations: `cos_<term>` and `gnr_<term>` against L_rec on the ORM's parameters). It ran with the code screen 7
used; from the repository root, with the screen's work folder and an output folder:

    python -m research.screen_20261205.make_probe8_configs ../evidence_screen7 ../probe8
    cd ../probe8 && PYTHONPATH=<repository root> python -m research.train -opt configs/<name>.yml  # 1 thread each
"""
import argparse
import copy
import os
import os.path as osp
from typing import List, Optional

from basicsr_skt.utils.option_checks import dump_options_yaml, load_options_yaml

#: variant -> (skt section whose weight goes back to the paper's scale, that weight)
VARIANTS = {'skam1': ('skam_opt', 0.1), 'content1': ('content_opt', 0.5)}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work', help='screen 7\'s work folder (its configs/)')
    parser.add_argument('out', help='the probe\'s folder (configs/ is written there)')
    args = parser.parse_args(argv)
    work, out = args.work, args.out
    base = load_options_yaml(osp.join(work, 'configs', 'evidence_oracle_teacher_s0.yml'))
    os.makedirs(osp.join(out, 'configs'), exist_ok=True)
    for variant, (section, weight) in VARIANTS.items():
        opt = copy.deepcopy(base)
        opt['name'] = f'probe8_oracle_w10_{variant}_s0'
        opt['skt'][section]['loss_weight'] = weight
        opt['skt']['diagnostics'] = {'grad_cosine_freq': 30}
        dump_options_yaml(opt, osp.join(out, 'configs', f"{opt['name']}.yml"))
        print(osp.join(out, 'configs', f"{opt['name']}.yml"))


if __name__ == '__main__':
    main()
