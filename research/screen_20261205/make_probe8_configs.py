"""Configs of probe 8 in docs/evidence_notes.md (which ×10 term hurts? 2026-12-05), kept as run.

Each config is screen 7's stage-2 config of the oracle-prior student of seed 0 (`student_oracle_w10`, every
distillation weight ×10) with one weight put back to the paper's scale and the gradient diagnostics on (every 30
iterations: `cos_<term>` and `gnr_<term>` against L_rec on the ORM's parameters). Run from a worktree of the code
screen 7 used, with the screen's work folder:

    python docs/screen_20261205/make_probe8_configs.py /work/evidence_screen7 /work/probe8
    cd /work/probe8 && python -m basicsr_skt.train -opt configs/<name>.yml    # OMP_NUM_THREADS=1, one per core
"""
import copy
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from basicsr_skt.utils.option_checks import dump_options_yaml, load_options_yaml  # noqa: E402

#: variant -> (skt section whose weight goes back to the paper's scale, that weight)
VARIANTS = {'skam1': ('skam_opt', 0.1), 'content1': ('content_opt', 0.5)}


def main() -> None:
    work, out = sys.argv[1], sys.argv[2]
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
