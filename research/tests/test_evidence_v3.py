"""Evidence v3 (``research/run_evidence_v3.py``): the L / U split and a tiny end-to-end screen of the four arms."""
import argparse
import json
import os
from collections import OrderedDict

import pytest
import yaml

from basicsr_skt.utils.hdr_io import write_hdr
from research import run_evidence as v2
from research import run_evidence_v3 as v3
from research.evidence_tables import MEAN_ONLY_SCENE, scores_from_json, scores_to_json
from research.evidence_v3_data import LabelSplit, keep_share, split_photographs
from research.evidence_v3_report import collect_scores, source_lines
from research.tests.test_evidence import smooth_radiance

#: Config keys that make an arm an SKT arm (the teacher); the plan lets arms differ there.
TEACHER_KEYS = ('model_type', 'network_t', 'network_skam', 'skt', 'path.pretrain_network_t', 'path.param_key_t',
                'path.strict_load_t', 'path.pretrain_network_skam', 'path.strict_load_skam', 'datasets.train.skb',
                'datasets.val.skb')


def flat(value, prefix=''):
    if not isinstance(value, dict):
        return {prefix: value}
    return {k: v for key, item in value.items() for k, v in flat(item, f'{prefix}.{key}' if prefix else key).items()}


def differences(a, b):
    fa, fb = flat(a), flat(b)
    return {k for k in set(fa) | set(fb) if fa.get(k, '<absent>') != fb.get(k, '<absent>')}


def test_split_by_photograph_is_seeded_disjoint_and_sized():
    stems = [f'p{i}' for i in range(11)]
    l_photos, u_photos = split_photographs(stems, LabelSplit(label_seed=0))
    assert len(l_photos) == 5 and len(u_photos) == 6 and not set(l_photos) & set(u_photos)
    assert sorted(l_photos + u_photos) == sorted(stems)
    assert split_photographs(stems, LabelSplit(label_seed=0)) == (l_photos, u_photos)
    assert split_photographs(stems, LabelSplit(label_seed=1)) != (l_photos, u_photos)
    sources = [f's{i}' for i in range(8)]
    assert keep_share(sources, LabelSplit(u_fraction=1.0)) == sources
    half = keep_share(sources, LabelSplit(u_fraction=0.5))
    assert len(half) == 4 and set(half) <= set(sources) and set(keep_share(sources, LabelSplit(u_fraction=0.25))) < set(
        sources)


def test_tiny_v3_screen_runs_every_arm_without_u_gt_reaching_the_labeller(tmp_path):
    hdr_dir = tmp_path / 'photos'
    hdr_dir.mkdir()
    for i in range(4):
        write_hdr(str(hdr_dir / f'photo{i}.hdr'), smooth_radiance(i))
    work, report = tmp_path / 'work', tmp_path / 'screen.md'
    argv = ['--hdr-dir', str(hdr_dir), '--work', str(work), '--report', str(report), '--iters', '4',
            '--num-val-points', '1', '--demo-scenes', '2', '0', '0', '--max-size', '128', '--variants', '1',
            '--eval-variants', '1', '--labelled-demo', '1', '--unlabelled-variants', '2', '--extra-unlabelled-demo',
            '1', '--validation-only', '--seeds', '0', '--jobs', '2', '--threads', '1']
    v3.main(argv)
    data = json.loads((work / 'data_v3' / 'manifest.json').read_text())
    v2_data = json.loads((work / 'data' / 'manifest.json').read_text())
    # L and U share no photograph, and neither holds a validation or test photograph
    assert data['labelled_photos'] and data['unlabelled_photos']
    assert not set(data['labelled_photos']) & set(data['unlabelled_photos'])
    assert sorted(data['labelled_photos'] + data['unlabelled_photos']) == sorted(v2_data['photo_sources']['train'])
    stems = {name: name.rsplit('_v', 1)[0] for part in data['scenes'].values() for name in part}
    assert not {stems[s] for s in data['scenes']['labelled']} & {stems[s] for s in data['scenes']['unlabelled']}
    assert len(data['scenes']['unlabelled']) == 2 + 2  # 2 captures of one photograph, v2's 2nd and a new scene
    # U's GT never reaches the labeller: its input folder holds frames and exposures only
    unlabelled = work / 'data_v3' / 'Unlabelled'
    for scene in data['scenes']['unlabelled']:
        assert sorted(os.listdir(unlabelled / scene)) == ['exposure.txt', 'input_1.tif', 'input_2.tif', 'input_3.tif']
        for arm in ('skt_u', 'selftrain_u'):
            labels = work / 'pseudo' / f'{arm}_s0' / scene
            marker = json.loads((labels / 'pseudo_label.json').read_text())
            assert marker['source_frames'] == ['input_1.tif', 'input_2.tif', 'input_3.tif']
            assert str(unlabelled) in json.loads((work / 'pseudo' / f'{arm}_s0.done.json').read_text())['command']
            assert (labels / 'skb_meta.json').is_file() and not (labels / 'HDRImg.hdr').exists()
        gt = (work / 'data_v3' / 'UnlabelledGT' / scene / 'HDRImg.hdr').read_bytes()
        assert (work / 'data_v3' / 'SupervisedU' / scene / 'PseudoHDR.hdr').read_bytes() == gt  # the ceiling's target
        assert (work / 'pseudo' / 'skt_u_s0' / scene / 'PseudoHDR.hdr').read_bytes() != gt
    # the stage-2 configs differ only where the plan says; all start from the one stage-0 EMA ORM
    opts = {arm: yaml.safe_load((work / 'configs' / f'evidence_{arm}_s0.yml').read_text()) for arm in v3.DEFAULT_ARMS}
    orm = str(work / 'experiments' / 'evidence_pretrain_s0' / 'models' / 'net_g_2.pth')
    assert {opt['path']['pretrain_network_g'] for opt in opts.values()} == {orm}
    assert differences(opts['skt_u'], opts['selftrain_u']) == {
        'name', 'datasets.train.dataroot_pseudo', 'network_t.use_semantics', 'path.pretrain_network_t'}
    assert differences(opts['baseline_l'], opts['supervised_lu']) == {
        'name', 'datasets.train.type', 'datasets.train.dataroot_pseudo', 'datasets.train.io_backend_pseudo.type',
        'train.unlabeled_weight'}
    rest = {k for k in differences(opts['skt_u'], opts['supervised_lu']) if not k.startswith(TEACHER_KEYS)}
    assert rest == {'name', 'datasets.train.dataroot_pseudo'}  # λ_u is 1 in both here
    assert opts['skt_u']['skt']['distill_samples'] == 'unlabeled' and 'skam_opt' not in opts['skt_u']['skt']
    assert opts['skt_u']['datasets']['train']['dataroot_pseudo'] == str(work / 'pseudo' / 'skt_u_s0')
    teacher = yaml.safe_load((work / 'configs' / 'evidence_skt_u_teacher_s0.yml').read_text())
    assert teacher['skt']['mode'] == 'staged_teacher' and teacher['path']['pretrain_network_g'] == orm
    assert teacher['datasets']['train']['dataroot'] == str(work / 'data_v3' / 'Labelled')
    meta = json.loads(next((work / 'data_v3' / 'Labelled').glob('*/skb_meta.json')).read_text())
    assert meta['source'] == 'reference'  # priors from the inputs, never from the GT
    # the report: the named contrasts, the four arms, the ceiling and the wall time of every stage
    text = report.read_text()
    for part in ('| skt_u - baseline_l | psnr_mu |', '| skt_u - selftrain_u | psnr_mu |', '| baseline_l | 0 |',
                 '| supervised_lu | 0 |', 'Share of the ceiling', '| stage 0 s0 |', '| teacher skt_u s0 |',
                 '| labels selftrain_u s0 |', '| stage 2 supervised_lu s0 |', 'One seed of all arms'):
        assert part in text, part
    summary = json.loads((tmp_path / 'screen.json').read_text())
    assert {c['contrast'] for c in summary['contrasts']} == {'skt_u - baseline_l', 'skt_u - selftrain_u'}
    assert summary['primary'] == 'skt_u - baseline_l' and summary['seeds_done'] == [0]
    assert summary['command'].startswith('python -m research.run_evidence_v3 ')
    with pytest.raises(SystemExit, match='another --work'):  # another split in the same folder is refused
        v3.main(argv + ['--label-seed', '1'])
    # the test split: every run is reused (same configs), only the tests run; own photographs and an earlier seed join
    extra_dir, docs = tmp_path / 'own', tmp_path / 'docs'
    extra_dir.mkdir()
    write_hdr(str(extra_dir / 'mine.hdr'), smooth_radiance(9))
    earlier = tmp_path / 'earlier_scores.json'
    earlier.write_text(json.dumps(scores_to_json({arm: {1: {MEAN_ONLY_SCENE: {'psnr_mu': 20.0 + i, 'ssim_mu': 0.5}}}
                                                  for i, arm in enumerate(v3.DEFAULT_ARMS)})))
    test_argv = [a for a in argv if a != '--validation-only']
    test_argv[test_argv.index('--report') + 1] = str(docs / 'evidence_v3.md')
    v3.main(test_argv + ['--extra-test', str(extra_dir), '--earlier-scores', str(earlier)])
    stages = ['evidence_pretrain_s0', 'evidence_skt_u_teacher_s0', 'evidence_selftrain_u_teacher_s0']
    arms = [f'evidence_{arm}_s0' for arm in v3.DEFAULT_ARMS]
    assert sorted(os.listdir(work / 'experiments')) == sorted(arms + stages)
    text = (docs / 'evidence_v3.md').read_text()
    for part in ('## Results (test split)', '- `skt_u - baseline_l` (primary): ', '## Test on your own photographs',
                 'Seeds with every arm finished: 0, 1', '| test skt_u s0 |', '| test baseline_l s0 |',
                 '| test selftrain_u s0 |', '| test supervised_lu s0 |'):
        assert part in text, part
    scores = scores_from_json(json.loads((docs / 'evidence_v3_scores.json').read_text()))
    assert set(scores) == set(v3.DEFAULT_ARMS) and set(scores['skt_u']) == {0, 1}
    summary = json.loads((docs / 'evidence_v3.json').read_text())
    share = summary['ceiling_share']
    means = {arm: summary['arm_means'][arm]['psnr_mu'] for arm in ('skt_u', 'baseline_l', 'supervised_lu')}
    assert share['seeds'] == [0, 1] and share['share'] == pytest.approx(
        (means['skt_u'] - means['baseline_l']) / (means['supervised_lu'] - means['baseline_l']))
    assert {c['contrast'] for c in summary['extra_test_contrasts']} == {'skt_u - baseline_l', 'skt_u - selftrain_u'}

    # a screen cell in its own --work takes over the finished stages it shares with another (--reuse-from): here
    # λ_u = 0.5 shares stage 0, the teacher and the labels, and trains stage 2 only
    cell = tmp_path / 'cell'
    cell_argv = [a if a != str(work) else str(cell) for a in argv]
    cell_argv[cell_argv.index('--report') + 1] = str(tmp_path / 'cell.md')
    v3.main(cell_argv + ['--runs', 'skt_u', '--unlabeled-weight', '0.5', '--reuse-from', str(work)])
    for shared in ('experiments/evidence_pretrain_s0/models/net_g_2.pth',
                   'experiments/evidence_skt_u_teacher_s0/models/net_t_2.pth',
                   'pseudo/skt_u_s0/demo_train_001/PseudoHDR.hdr'):
        assert os.path.samefile(cell / shared, work / shared), shared
    student = 'experiments/evidence_skt_u_s0/models/net_g_2.pth'
    assert (cell / student).is_file() and not os.path.samefile(cell / student, work / student)
    assert yaml.safe_load((cell / 'configs' / 'evidence_skt_u_s0.yml').read_text())['train']['unlabeled_weight'] == 0.5
    # other labels (a confidence map): stage 0 and the teacher are shared, the labels and everything after them are
    # not, though stage 2's config reads the same
    other = tmp_path / 'other_labels'
    other_argv = [a if a != str(cell) else str(other) for a in cell_argv]
    v3.main(other_argv + ['--runs', 'skt_u', '--confidence', 'orm_agreement', '--reuse-from', str(work)])
    assert os.path.samefile(other / 'experiments/evidence_skt_u_teacher_s0/models/net_t_2.pth',
                            work / 'experiments/evidence_skt_u_teacher_s0/models/net_t_2.pth')
    assert (other / 'configs/evidence_skt_u_s0.yml').read_text() == (work / 'configs/evidence_skt_u_s0.yml').read_text(
    ).replace(str(work), str(other))
    for own in ('pseudo/skt_u_s0/demo_train_001/PseudoHDR.hdr', student):
        assert (other / own).is_file() and not os.path.samefile(other / own, work / own), own
    # --prior-source orm: the teachers read a per-seed copy of L and validation (frames linked) whose priors come from
    # the stage-0 ORM's output; stage 0 is reused, the labels carry priors from the same source
    orm_work = tmp_path / 'orm_work'
    orm_argv = [a if a != str(cell) else str(orm_work) for a in cell_argv]
    v3.main(orm_argv + ['--runs', 'skt_u', '--prior-source', 'orm', '--reuse-from', str(work)])
    assert os.path.samefile(orm_work / 'experiments/evidence_pretrain_s0/models/net_g_2.pth',
                            work / 'experiments/evidence_pretrain_s0/models/net_g_2.pth')
    orm_l = orm_work / 'priors_orm_s0' / 'Labelled'
    teacher = yaml.safe_load((orm_work / 'configs' / 'evidence_skt_u_teacher_s0.yml').read_text())
    assert teacher['datasets']['train']['dataroot'] == str(orm_l)
    assert teacher['datasets']['val']['dataroot'] == str(orm_work / 'priors_orm_s0' / 'Validation')
    scene = next(orm_l.glob('*/skb_meta.json')).parent
    meta = json.loads((scene / 'skb_meta.json').read_text())
    assert meta['source'] == 'orm' and meta['orm_checkpoint'] == 'net_g_2.pth'
    assert (scene / 'input_1.tif').is_symlink() and not (work / 'data_v3' / 'Labelled' / scene.name).is_symlink()
    reference_meta = work / 'data_v3' / 'Labelled' / scene.name / 'skb_meta.json'
    assert json.loads(reference_meta.read_text())['source'] == 'reference'
    label = next((orm_work / 'pseudo' / 'skt_u_s0').glob('*/pseudo_label.json'))
    assert json.loads(label.read_text())['prior_source'] == 'orm'


def test_report_shows_the_test_contrasts_per_source_photograph():
    scene = lambda a, b: {'P_v0': {'psnr_mu': a}, 'P_v1': {'psnr_mu': b}}  # noqa: E731
    scores = {'baseline_l': {1: scene(30.0, 30.0)}, 'skt_u': {1: scene(30.4, 30.2)}}

    def report(split):
        return v2.ReportScores(split, {}, scores if split == 'test' else {}, [], scores, [], {}, [], [1])

    manifest = {'photo_sources': {'test': ['P']}}
    lines = source_lines(manifest, report('test'))
    assert lines[0] == '### Per source photograph (test split)'
    assert lines[2].splitlines()[2:] == ['| P | 2 | +0.30 |', '| all scenes | 2 | +0.30 |']
    assert source_lines(manifest, report('validation')) == []


def test_runs_of_a_second_folder_join_the_archive_in_the_plan_order(tmp_path):
    """One arm of seed 5 trained in its own --work: its report merges the archive, lists the arms in the plan's
    order and counts a seed as finished only when every arm of the tables has it."""
    csv = tmp_path / 'results' / 'test_evidence_selftrain_u_s5' / 'evidence_test_metrics.csv'
    csv.parent.mkdir(parents=True)
    csv.write_text('scene,psnr_mu\nP_v0,31.0\nmean,31.0\n')
    scene = {'P_v0': {'psnr_mu': 30.0}}
    earlier = OrderedDict(selftrain_u={4: scene}, skt_u={4: scene, 5: scene}, baseline_l={4: scene})
    args = argparse.Namespace(validation_only=False, iters=4)
    scores = collect_scores(args, str(tmp_path), [('selftrain_u', 5)], None, earlier)
    assert list(scores.test_scores) == ['baseline_l', 'skt_u', 'selftrain_u']
    assert scores.test_scores['selftrain_u'][5] == {'P_v0': {'psnr_mu': 31.0}}
    assert scores.done == [4]  # baseline_l has no seed 5 yet
    assert scores.from_earlier == [('selftrain_u', 4), ('skt_u', 4), ('skt_u', 5), ('baseline_l', 4)]
