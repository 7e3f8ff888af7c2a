"""Configs of the gradient probe in docs/evidence_notes.md (screen of 2026-12-03), kept as run.

Run from a worktree of commit 86eda50 (branch screen-snapshot) with the screen's work folder /work/screen; each config
was then trained with `python -m basicsr_skt.train -opt /work/probe/<variant>.yml` (OMP_NUM_THREADS=1).
"""
import copy, sys
sys.path.insert(0, '/work/wt_screen')
from basicsr_skt.utils.option_checks import load_options_yaml, dump_options_yaml
base = load_options_yaml('/work/screen/experiments/evidence_skt_s0/evidence_skt_s0.yml')
m = '/work/screen/experiments/evidence_skt_s0/models'
variants = {
    'soft_charb': dict(gate='soft', criterion='charbonnier'),
    'hard_l1': dict(gate='hard', criterion='l1'),
    'none_l1': dict(gate='none', criterion='l1'),
}
for name, content in variants.items():
    o = copy.deepcopy(base)
    o['name'] = f'probe_{name}'
    o['path'] = {'pretrain_network_g': f'{m}/net_g_1200.pth', 'param_key_g': 'params', 'strict_load_g': True,
                 'pretrain_network_t': f'{m}/net_t_1200.pth', 'param_key_t': 'params', 'strict_load_t': True,
                 'resume_state': None}
    o['train']['total_iter'] = 40
    o['train']['scheduler'] = {'type': 'CosineAnnealingRestartLR', 'periods': [40], 'restart_weights': [1], 'eta_min': 1e-6}
    o['train']['optim_g']['lr'] = 1e-5
    o['skt']['warmup_iter'] = 0
    o['skt']['content_opt'].update(content)
    o['skt']['colour_opt'].update(gate=content['gate'], criterion=content['criterion'])
    o['skt']['diagnostics'] = {'grad_cosine_freq': 4}
    o['val']['val_freq'] = 10**6
    o['logger']['print_freq'] = 4
    o['logger']['save_checkpoint_freq'] = 10**6
    o['datasets']['train']['num_worker_per_gpu'] = 0
    dump_options_yaml(o, f'/work/probe/{name}.yml')
print('ok')
