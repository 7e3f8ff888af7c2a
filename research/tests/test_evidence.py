"""The evidence experiment: log parsing, and a tiny end-to-end run that writes the whole report."""
import glob
import json
import math
import os
import os.path as osp
import re
from collections import OrderedDict

import cv2
import numpy as np
import pytest

from basicsr_skt.reporting.charts import line_chart
from basicsr_skt.synthesis.splits import check_disjoint
from basicsr_skt.utils.hdr_io import write_hdr
from research import evidence_tables, run_evidence, stats
from research.evidence_data import EvidenceData, build_data, build_extra_test, capture_name, capture_source
from research.train_logs import logged_scalars, validation_curves

LOG = """2026-11-29 18:11:26,081 INFO: [demo_..][epoch:  0, iter:     100, lr:(5.000e-04,)] [eta: 0:01:19, \
time (data): \
0.280 (0.002)] l_rec: 3.5796e-02 gap_psnr_mu: 1.3476e+00
2026-11-29 18:11:57,077 INFO: Validation demo_val @ iter 200
| scene | psnr_mu | ssim_mu |
|---|---|---|
| a | 28.0000 | 0.9000 |
| **mean** | 29.6504 | 0.9459 |
| best (iter) | 29.6504 (200) | 0.9459 (200) |
2026-11-29 18:12:00,000 INFO: [demo_..][epoch:  1, iter:   1,200, lr:(5.000e-04,)] [eta: 0:00:00, time (data): \
0.1 (0.0)] l_rec: -1.5e-02 gap_psnr_mu: -2.0e+00
2026-11-29 18:12:51,440 INFO: Validation demo_val @ iter 400
| scene | psnr_mu | ssim_mu |
|---|---|---|
| **mean** | 31.2500 | 0.9500 |
"""


def test_log_parsing_reads_scalars_and_validation_means():
    scalars = logged_scalars(LOG)
    assert scalars['gap_psnr_mu'] == [(100, 1.3476), (1200, -2.0)] and scalars['l_rec'][1] == (1200, -0.015)
    curves = validation_curves(LOG)['demo_val']
    assert curves['psnr_mu'] == [(200, 29.6504), (400, 31.25)] and curves['ssim_mu'][0] == (200, 0.9459)


def smooth_radiance(seed, height=112, width=160):
    rng = np.random.default_rng(seed)
    low = rng.uniform(0.05, 1.0, (4, 5, 3)).astype(np.float32)
    image = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC).clip(0.01, None)
    image[10:20, 10:20] *= 20  # a light source
    return image


def test_tiny_experiment_writes_every_section_of_the_report_and_the_json(tmp_path):
    hdr_dir, extra_dir = tmp_path / 'photos', tmp_path / 'own_photos'
    hdr_dir.mkdir()
    extra_dir.mkdir()
    for i in range(3):
        write_hdr(str(hdr_dir / f'photo{i}.hdr'), smooth_radiance(i))
    write_hdr(str(extra_dir / 'mine.hdr'), smooth_radiance(7))
    report = tmp_path / 'docs' / 'evidence.md'
    argv = ['--hdr-dir', str(hdr_dir), '--work', str(tmp_path / 'work'), '--report', str(report), '--iters', '2',
            '--demo-scenes', '1', '0', '0', '--max-size', '128', '--variants', '2', '--eval-variants', '2', '--runs',
            'baseline', 'skt', '--seeds', '0', '1', '--extra-test', str(extra_dir), '--jobs', '2', '--threads', '1']
    run_evidence.main(argv)
    text = report.read_text()
    for section in ('## Command', '## Setup', '## Results (test split)', '### Paired contrasts', '**Read-out**',
                    '- `skt - baseline` (primary): ',
                    '### Region metrics (test split)', 'largest |Δ PSNR-μ|', '## Test on your own photographs',
                    '## Training curves', '## Wall time', 'missing by occlusion',
                    'Seeds with every arm finished: 0, 1', 'pages/evidence_compare.html'):
        assert section in text, section
    page = (tmp_path / 'work' / 'pages' / 'evidence_compare.html').read_text()  # the test split's comparison page
    assert 'baseline' in page and 'skt' in page and (tmp_path / 'work' / 'pages' / 'evidence_compare_files').is_dir()
    summary_text = (tmp_path / 'docs' / 'evidence.json').read_text()
    absolute = re.compile(r'(?<!\.)' + re.escape(str(tmp_path)))  # the folder as an absolute path, not after '..'
    assert not absolute.search(text + summary_text)  # paths recorded relative to the repository
    assert f'--work {osp.relpath(tmp_path / "work", run_evidence.REPO)} ' in text
    manifest = build_data(run_evidence.data_spec(run_evidence.parse_args(argv)), str(tmp_path / 'work' / 'data'))
    assert manifest == json.loads((tmp_path / 'work' / 'data' / 'manifest.json').read_text())  # reused, not rebuilt
    assert len(manifest['scenes']['train']) == 3 and len(manifest['scenes']['test']) == 2  # 2 captures (+ 1 demo)
    assert manifest['bracket_config']['evs'] == [0.0, 2.0, 4.0]
    check_disjoint(manifest['photo_sources'])
    # the table holds the test CSVs' numbers: mean over seeds of the scene means
    psnr = []
    for seed in (0, 1):
        scenes = run_evidence.read_metrics_csv(
            str(tmp_path / 'work' / 'results' / f'test_evidence_skt_s{seed}' /
                'evidence_test_metrics.csv'))
        psnr.append(np.mean([v['psnr_mu'] for v in scenes.values()]))
        assert {'psnr_mu_extreme', 'psnr_mu_motion', 'ssim_mu_rest'} <= set(next(iter(scenes.values())))
    assert f'| skt | 0, 1 | {np.mean(psnr):.4f} ± {np.std(psnr, ddof=1):.4f} |' in text
    summary = json.loads((tmp_path / 'docs' / 'evidence.json').read_text())
    primary = [c for c in summary['contrasts'] if c['contrast'] == 'skt - baseline' and c['metric'] == 'psnr_mu'][0]
    for key in ('n_seeds', 'mean', 'ci_low', 'ci_high', 'p_sign', 'p_wilcoxon', 'tost_equivalent'):
        assert key in primary
    assert primary['n_seeds'] == 2 and summary['seeds_done'] == [0, 1] and summary['extra_test_contrasts']
    assert primary['ci_low'] <= primary['mean'] <= primary['ci_high']
    assert osp.isfile(tmp_path / 'docs' / 'evidence_val_psnr_mu.png')
    assert len(glob.glob(str(tmp_path / 'docs' / 'evidence_scene_*.png'))) == 2
    # the score archive holds the CSVs' values; a fresh machine continues with it (here: a seed 2 known by its means)
    archive = json.loads((tmp_path / 'docs' / 'evidence_scores.json').read_text())
    restored = evidence_tables.scores_from_json(archive)
    written = run_evidence.read_metrics_csv(
        str(tmp_path / 'work' / 'results' / 'test_evidence_skt_s1' / 'evidence_test_metrics.csv'))
    assert list(restored['skt'][1]) == list(written)
    for scene, values in written.items():
        assert restored['skt'][1][scene] == pytest.approx(values, abs=1e-6, nan_ok=True)
    mean_only = {arm: {2: {evidence_tables.MEAN_ONLY_SCENE: {'psnr_mu': 20.0 + i, 'ssim_mu': 0.5, 'lpips': 0.3}}}
                 for i, arm in enumerate(('baseline', 'skt'))}
    earlier = tmp_path / 'earlier_scores.json'
    earlier.write_text(json.dumps(evidence_tables.scores_to_json(mean_only)))
    run_evidence.main(argv + ['--earlier-scores', str(earlier)])  # every run is reused: only the report is new
    text = report.read_text()
    assert 'Seeds with every arm finished: 0, 1, 2' in text and 'baseline s2, skt s2' in text
    assert 'Seed 2 is known by its test means only' in text
    summary = json.loads((tmp_path / 'docs' / 'evidence.json').read_text())
    primary = [c for c in summary['contrasts'] if c['contrast'] == 'skt - baseline' and c['metric'] == 'psnr_mu'][0]
    assert primary['n_seeds'] == 3 and primary['boot_low'] is None  # no scene bootstrap with a mean-only seed
    assert evidence_tables.scores_from_json(json.loads((tmp_path / 'docs' / 'evidence_scores.json').read_text()))[
        'skt'][2] == mean_only['skt'][2]
    # the screen reads validation only and never runs a model on the test split
    tests_before = sorted(os.listdir(tmp_path / 'work' / 'results'))
    run_evidence.main(argv[:-6] + ['--validation-only', '--report', str(tmp_path / 'screen.md'), '--seeds', '0', '1'])
    screen = (tmp_path / 'screen.md').read_text()
    assert '## Results (validation split)' in screen and '(test split)' not in screen and 'Read-out' not in screen
    assert 'Seeds with every arm finished: 0, 1' in screen and '| skt | 0, 1 |' in screen
    teacher_rows = screen.split('### The teacher per region (validation)')[1].split('\n\n')[1].splitlines()
    assert 'teacher_psnr_mu_extreme' in teacher_rows[0] and 'teacher0_psnr_mu_rest' in teacher_rows[0]
    assert teacher_rows[3].startswith('| skt | 0, 1 | ') and '–' not in teacher_rows[3].split('|')[3]
    assert sorted(os.listdir(tmp_path / 'work' / 'results')) == tests_before
    assert json.loads((tmp_path / 'screen.json').read_text())['split'] == 'validation'


def test_extra_test_refuses_photographs_of_the_experiment(tmp_path):
    manifest = {'photo_sources': {'train': ['a'], 'val': ['b'], 'test': ['c']}}
    (tmp_path / 'own').mkdir()
    write_hdr(str(tmp_path / 'own' / 'b.hdr'), smooth_radiance(0))
    with pytest.raises(SystemExit, match=r"\['b'\] are also in --hdr-dir"):
        build_extra_test(EvidenceData(), str(tmp_path / 'own'), str(tmp_path / 'work' / 'extra'), manifest)
    assert not (tmp_path / 'work').exists()  # nothing written


def test_recipe_options_reach_the_configs():
    args = run_evidence.parse_args(['--iters', '100', '--ema-decay', '0.99'])
    opt = run_evidence.train_options('no_semantics', 3, '/data', args)
    assert opt['manual_seed'] == 3 and opt['train']['ema_decay'] == 0.99 and opt['train']['total_iter'] == 100
    assert opt['train']['scheduler'] == {'type': 'CosineAnnealingRestartLR', 'periods': [100],
                                         'restart_weights': [1], 'eta_min': 1e-6}
    assert opt['network_t']['use_semantics'] is False
    assert opt['val']['metrics']['psnr_mu_motion']['read_noise'] == pytest.approx(5e-4 * 8)
    oracle = run_evidence.train_options('oracle_teacher', 0, '/w/data', args)
    assert oracle['datasets']['train']['dataroot'] == '/w/data_oracle/Training'
    assert oracle['network_t']['embed_channels'] == 3
    base = run_evidence.train_options('baseline', 3, '/data', args)
    same_data = {k: v for k, v in opt['datasets']['train'].items() if k != 'skb'}
    assert {k: v for k, v in base['datasets']['train'].items() if k != 'skb'} == same_data  # same data for every arm
    assert base['manual_seed'] == 3 and base['train']['scheduler'] == opt['train']['scheduler']
    test = run_evidence.test_options('t', {'evidence_test': '/d/Test', 'evidence_extra': '/e'}, opt, 'net.pth', args)
    assert test['path']['param_key_g'] == 'params_ema' and 'ssim_mu_extreme' in test['val']['metrics']
    assert [d['name'] for d in test['datasets'].values()] == ['evidence_test', 'evidence_extra']
    strong = run_evidence.train_options('no_skam', 3, '/data', run_evidence.parse_args(
        ['--iters', '100', '--ema-decay', '0.99', '--distill-scale', '10']))
    plain = run_evidence.train_options('no_skam', 3, '/data', args)
    assert strong['skt']['content_opt']['loss_weight'] == pytest.approx(10 * plain['skt']['content_opt']['loss_weight'])
    assert strong['skt']['colour_opt']['loss_weight'] == pytest.approx(10 * plain['skt']['colour_opt']['loss_weight'])
    assert 'skam_opt' not in strong['skt']  # a dropped term stays dropped
    for section in ('content_opt', 'colour_opt'):
        strong['skt'][section]['loss_weight'] = plain['skt'][section]['loss_weight']
    assert strong == plain  # nothing else changes


def test_oracle_cross_attention_arm_changes_only_the_fusion():
    args = run_evidence.parse_args(['--hdr-dir', 'x'])
    sft = run_evidence.train_options('oracle_teacher', 0, '/w/data', args)
    xattn = run_evidence.train_options('oracle_xattn', 0, '/w/data', args)
    assert xattn['network_t'] == dict(sft['network_t'], type='SPGRMProbe', fusion='cross_attention')
    assert xattn['datasets'] == sft['datasets'] and xattn['skt'] == sft['skt']
    assert 'oracle_xattn' in run_evidence.DIAGNOSTIC  # never tested


def test_oracle_acceptance_check_averages_the_paired_seeds():
    final = {
        'oracle_teacher': {0: {'teacher_psnr_mu': 34.76, 'psnr_mu': 32.26}, 1: {'teacher_psnr_mu': 33.87},
                           2: {'teacher_psnr_mu': 35.0}},
        'no_semantics': {0: {'teacher_psnr_mu': 33.79}, 1: {'teacher_psnr_mu': 33.73}},
    }
    text = '\n'.join(run_evidence.oracle_check(final))
    assert '| 0 | 34.7600 | 33.7900 | +0.9700 | 32.2600 | – |' in text and '| 2 |' not in text  # seed 2 unpaired
    assert 'Mean Δ +0.555 dB over 2 seed(s): **FAILED' in text
    final['oracle_teacher'][1]['teacher_psnr_mu'] = 35.0
    assert 'Mean Δ +1.120 dB over 2 seed(s): **passed**' in '\n'.join(run_evidence.oracle_check(final))
    assert 'Not measured' in '\n'.join(run_evidence.oracle_check({'no_semantics': final['no_semantics']}))


def test_staged_mode_chains_pretrain_teacher_and_student_and_the_matched_control():
    args = run_evidence.parse_args(['--iters', '100', '--skt-mode', 'staged'])
    runs = run_evidence.stage_runs('skt', 2, '/w', '/w/data', args)
    assert [name for name, _, _ in runs] == ['evidence_pretrain_s2', 'evidence_skt_teacher_s2', 'evidence_skt_s2']
    (_, pretrain, n0), (_, teacher, n1), (_, student, n2) = runs
    assert n0 == n1 == n2 == 50 and pretrain['train']['total_iter'] == 50  # half of --iters each
    assert pretrain['train']['scheduler']['periods'] == [50] and 'skt' not in pretrain
    orm = '/w/experiments/evidence_pretrain_s2/models/net_g_50.pth'
    assert teacher['skt']['mode'] == 'staged_teacher' and teacher['train']['ema_decay'] == 0
    assert teacher['path']['pretrain_network_g'] == orm and teacher['path']['param_key_g'] == 'params_ema'
    assert student['skt']['mode'] == 'staged_student' and student['skt']['distill_warmup_iter'] == 0
    assert student['path']['pretrain_network_g'] == orm
    assert student['path']['pretrain_network_t'] == '/w/experiments/evidence_skt_teacher_s2/models/net_t_50.pth'
    assert student['manual_seed'] == teacher['manual_seed'] == pretrain['manual_seed'] == 2
    control = run_evidence.stage_runs('finetune_control', 2, '/w', '/w/data', args)
    assert [name for name, _, _ in control] == ['evidence_pretrain_s2', 'evidence_finetune_control_s2']
    assert control[0][1] == pretrain  # the same stage 0: one run shared by the arms of a seed
    assert control[1][1]['path']['pretrain_network_g'] == orm and 'skt' not in control[1][1]
    without = {k: v for k, v in control[1][1]['datasets']['train'].items() if k != 'skb'}
    assert without == {k: v for k, v in student['datasets']['train'].items() if k != 'skb'}  # same data and crops
    assert run_evidence.run_iters('baseline', args) == 100 and run_evidence.run_iters('skt', args) == 50
    assert run_evidence.checkpoint_path('/w', 'skt', 2, args).endswith('evidence_skt_s2/models/net_g_50.pth')
    joint = run_evidence.parse_args(['--iters', '100'])
    assert [name for name, _, _ in run_evidence.stage_runs('skt', 2, '/w', '/w/data', joint)] == ['evidence_skt_s2']
    strong = run_evidence.stage_runs('skt', 2, '/w', '/w/data', run_evidence.parse_args(
        ['--iters', '100', '--skt-mode', 'staged', '--distill-scale', '10']))
    assert strong[:2] == runs[:2]  # the same stage-0 ORM and teacher: only the student's terms are stronger
    assert strong[2][1]['skt']['content_opt']['loss_weight'] == pytest.approx(
        10 * student['skt']['content_opt']['loss_weight'])


def test_tiny_staged_screen_trains_every_stage_once_and_reports_the_control(tmp_path):
    hdr_dir = tmp_path / 'photos'
    hdr_dir.mkdir()
    for i in range(3):
        write_hdr(str(hdr_dir / f'photo{i}.hdr'), smooth_radiance(i))
    argv = ['--hdr-dir', str(hdr_dir), '--work', str(tmp_path / 'work'), '--report', str(tmp_path / 'screen.md'),
            '--iters', '4', '--num-val-points', '1', '--demo-scenes', '1', '0', '0', '--max-size', '128', '--variants',
            '1', '--eval-variants', '1', '--validation-only', '--skt-mode', 'staged', '--runs', 'no_semantics',
            'finetune_control', '--seeds', '0', '--jobs', '2', '--threads', '1']
    run_evidence.main(argv)
    experiments = tmp_path / 'work' / 'experiments'
    assert sorted(os.listdir(experiments)) == ['evidence_finetune_control_s0', 'evidence_no_semantics_s0',
                                               'evidence_no_semantics_teacher_s0', 'evidence_pretrain_s0']
    assert osp.isfile(experiments / 'evidence_no_semantics_teacher_s0' / 'models' / 'net_t_2.pth')
    for run in ('evidence_no_semantics_s0', 'evidence_finetune_control_s0'):
        log = run_evidence.read_experiment_logs(str(experiments / run))
        assert 'evidence_pretrain_s0/models/net_g_2.pth' in log  # both start from the shared stage-0 ORM
    screen = (tmp_path / 'screen.md').read_text()
    assert '| finetune_control | 0 |' in screen and '| no_semantics | 0 |' in screen
    assert 'SKT, staged' in screen and '| pretrain_s0 |' in screen
    assert 'no_semantics - finetune_control' not in screen  # not a contrast of the family


def test_evidence_tables_known_values():
    scene = lambda psnr: OrderedDict(a={'psnr_mu': psnr - 1.0}, b={'psnr_mu': psnr + 1.0})  # noqa: E731
    scores = OrderedDict(baseline={s: scene(30.0) for s in (0, 1, 2)},
                         skt={s: scene(30.0 + d) for s, d in zip((0, 1, 2), (0.1, 0.2, 0.6))})
    (summary, ) = evidence_tables.contrast_summaries(scores)
    assert summary.contrast == 'skt - baseline' and summary.n_seeds == 3
    assert summary.mean == pytest.approx(0.3) and summary.p_holm == pytest.approx(summary.p_t)  # a family of one
    assert evidence_tables.primary_contrast(scores) == 'skt - baseline'
    table = evidence_tables.arm_table(scores, ['psnr_mu', 'ssim_mu'], lambda arm, seed: None if seed else 2.5)
    assert table.splitlines() == ['| arm | seeds | psnr_mu | train min |', '|---|---|---|---|',
                                  '| baseline | 0, 1, 2 | 30.0000 ± 0.0000 | 2.5, ?, ? |',
                                  '| skt | 0, 1, 2 | 30.3000 ± 0.2646 | 2.5, ?, ? |']
    shares = {'saturated': 0.1, 'dark': 0.0, 'motion': 0.2, 'missing': 0.05, 'missing_occluded': 0.01}
    rows = evidence_tables.share_table({'shares': {'train': {'x': shares}, 'val': {}}}, None).splitlines()
    assert rows[2] == '| train | 1 | 10.00 | 0.00 | 20.00 | 5.00 | 1.00 |' and len(rows) == 3  # empty splits left out
    assert evidence_tables.finite_json({'a': [float('nan'), 1.0], 'b': float('inf')}) == {'a': [None, 1.0], 'b': None}


def test_capture_names_read_back_to_their_photograph():
    assert [capture_name('Ab', 3), capture_name('A_v1', 0)] == ['Ab_v3', 'A_v1_v0']
    assert [capture_source(n) for n in ('Ab_v3', 'A_v1_v0', 'A_v12', 'A_vx', 'A_v', '_v1', 'demo_train_000')] == [
        'Ab', 'A_v1', 'A', None, None, None, None]


def test_source_table_averages_captures_then_seeds():
    def run(a0, a1, gen):
        return OrderedDict([('Ab_v0', {'psnr_mu': a0}), ('Ab_v1', {'psnr_mu': a1}), ('A_v0', {'psnr_mu': 20.0}),
                            ('demo_test_000', {'psnr_mu': gen})])
    base = {1: run(30.0, 30.0, 30.0), 2: run(31.0, 31.0, 31.0), 3: {evidence_tables.MEAN_ONLY_SCENE: {'psnr_mu': 9.0}}}
    scores = OrderedDict(base=base, arm={1: run(30.5, 31.5, 29.0), 2: run(31.0, 32.0, 31.0),
                                         3: {evidence_tables.MEAN_ONLY_SCENE: {'psnr_mu': 99.0}}})
    # 'A_v0' belongs to A, not to Ab (the prefix is the whole name); seed 3 is known by its means only: left out
    assert [evidence_tables.scene_source(n, ['A', 'Ab']) for n in ('Ab_v1', 'A_v0', 'A_vx', 'demo_test_000')] == [
        'Ab', 'A', 'generated', 'generated']
    rows = evidence_tables.source_delta_table(scores, 'base', ['A', 'Ab']).splitlines()
    assert rows == ['| source | scenes | arm − base |', '|---|---|---|',
                    '| Ab | 2 | +0.75 |',  # seed 1: (0.5 + 1.5) / 2 = 1.0; seed 2: (0 + 1) / 2 = 0.5
                    '| A | 1 | +0.00 |', '| generated | 1 | -0.50 |',  # seed 1: -1.0, seed 2: 0.0
                    '| all scenes | 4 | +0.25 |']  # seed 1: (0.5 + 1.5 + 0 - 1) / 4; seed 2: (0 + 1 + 0 + 0) / 4
    assert evidence_tables.source_delta_table(OrderedDict(base=base), 'base', ['A']) == ''


def test_mean_curves_one_series_per_arm_at_common_iterations():
    curves = {('skt', 0): [(100, 30.0), (200, 31.0)], ('skt', 1): [(100, 32.0), (200, 33.0), (300, 34.0)],
              ('baseline', 0): [(100, 29.0)], ('baseline', 1): [], **{('x', s): [(1, float(s))] for s in range(12)}}
    means = evidence_tables.mean_curves(curves)
    assert list(means) == ['skt (mean of 2 seeds)', 'baseline', 'x (mean of 12 seeds)']
    assert means['skt (mean of 2 seeds)'] == [(100, 31.0), (200, 32.0)] and means['baseline'] == [(100, 29.0)]
    assert means['x (mean of 12 seeds)'] == [(1, 5.5)]
    line_chart(means, 'any number of seeds', 'iteration')  # at most one series per arm: always drawable


def test_readout_applies_the_plan_rule():
    summarise, summarise_family = stats.summarise, stats.summarise_family
    big = summarise('skt - finetune_control', 'psnr_mu', [0.50, 0.60, 0.55, 0.65], 0.3)
    small = summarise('skt - baseline', 'psnr_mu', [0.01, -0.02, 0.03, 0.00], 0.3)
    noisy = summarise('skt - no_semantics', 'psnr_mu', [0.9, -0.8, 0.7, -0.6], 0.3)
    summarise_family([small, noisy, big])
    lines = evidence_tables.readout([small, noisy, big], 'skt - finetune_control')
    assert lines[0].startswith('- `skt - finetune_control` (primary): **improves**: mean Δ +0.575 dB')
    # 4 seeds: an exact sign test cannot go below p = 0.125, so the claim is phrased at the t test's level
    assert 'not confirmed at 5 % by the sign / Wilcoxon test, which 4 seeds cannot give (smallest possible p 0.125)' \
        in lines[0]
    assert lines[1].startswith('- `skt - baseline`: **no effect of ±0.3 dB or more** (TOST p 0.000)')
    assert lines[2].startswith('- `skt - no_semantics`: **inconclusive** at this budget: mean Δ +0.050 dB')
    assert lines[2].endswith(f'would need {noisy.seeds_for_80_power} seeds.') and noisy.seeds_for_80_power > 12


def test_score_archive_merge_and_bad_earlier_scores(tmp_path):
    scene = {'psnr_mu': 30.0, 'psnr_mu_motion': float('nan')}
    here = OrderedDict(skt={3: OrderedDict(a=scene, b=scene)})
    archive = evidence_tables.scores_to_json(OrderedDict(skt={0: {'test_mean': scene}, 3: {'x': scene}},
                                                         baseline={0: {'test_mean': scene}}))
    assert archive['scores']['skt']['0']['test_mean'] == {'psnr_mu': 30.0, 'psnr_mu_motion': None}
    earlier = evidence_tables.scores_from_json(json.loads(json.dumps(archive)))
    merged = evidence_tables.merge_scores(here, earlier)
    assert list(merged) == ['skt', 'baseline'] and list(merged['skt']) == [0, 3]
    assert list(evidence_tables.merge_scores(here, earlier, order=['baseline', 'skt'])) == ['baseline', 'skt']
    assert list(evidence_tables.merge_scores(here, earlier, order=['none', 'baseline'])) == ['baseline', 'skt']
    assert list(merged['skt'][3]) == ['a', 'b']  # the run trained here wins over the archive's
    assert evidence_tables.mean_only(merged['skt'][0]) and not evidence_tables.mean_only(merged['skt'][3])
    assert math.isnan(merged['skt'][0]['test_mean']['psnr_mu_motion'])
    bad = tmp_path / 'bad.json'
    for content, message in (('{"scores": {}}', 'not a score archive of format 1'),
                             ('{"format": 1, "scores": {"skt": {"zero": {}}}}', 'malformed score archive'),
                             ('{"format": 1', 'Expecting')):
        bad.write_text(content)
        with pytest.raises(SystemExit, match=f'--earlier-scores {bad}: .*{message}'):
            run_evidence.read_earlier_scores(run_evidence.parse_args(['--earlier-scores', str(bad)]))
    with pytest.raises(SystemExit, match='cannot read it .*earlier report wrote'):
        run_evidence.read_earlier_scores(run_evidence.parse_args(['--earlier-scores', str(tmp_path / 'none.json')]))
    with pytest.raises(SystemExit, match='cannot be used with --validation-only'):
        run_evidence.read_earlier_scores(run_evidence.parse_args(['--earlier-scores', str(bad), '--validation-only']))


def test_notes_links_are_rebased_onto_the_report_folder(tmp_path):
    research, docs = str(tmp_path / 'research'), str(tmp_path / 'docs')
    text = 'See [c](screen/x.py), [p](../docs/plan.md#rule), [w](https://x.org/a), [h](#top) and ![i](/abs.png).'
    assert run_evidence.rebase_links(text, research, docs) == (
        'See [c](../research/screen/x.py), [p](plan.md#rule), [w](https://x.org/a), [h](#top) and ![i](/abs.png).')
    assert run_evidence.rebase_links(text, docs, docs + '/') == text
