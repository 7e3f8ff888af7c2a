"""SKT on unlabelled brackets: confidence, weighted losses, pseudo labels (never reading the GT), their dataset and
LMDB, and the demo config under BasicSR's trainer (docs/skt.md, "Unlabelled brackets")."""
import builtins
import copy
import os
import os.path as osp
import random
import shutil
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch
from helpers import OPTIONS_DIR, TINY_HDRT, dump_yaml, load_script, load_yaml, make_tiny_demo, run_python
from PIL import Image
from test_hdr_model import model_opt
from test_skt_model import skt_opt

from basicsr.archs import build_network
from basicsr_skt.data.pseudo_label_dataset import PseudoLabelHDRDataset, SemiSupervisedHDRDataset
from basicsr_skt.inference.brackets import read_bracket
from basicsr_skt.inference.pseudo_labels import confidence_map
from basicsr_skt.losses.hdr_loss import MuLawL1Loss
from basicsr_skt.models.hdr_model import HDRModel
from basicsr_skt.models.skt_model import SKTModel
from basicsr_skt.models.unlabeled import loss_weight_map, weighted_mean
from basicsr_skt.skb.format import load_scene_priors, save_scene_priors
from basicsr_skt.utils import hdr_io
from basicsr_skt.utils.hdr_io import network_input
from basicsr_skt.utils.pseudo_label_files import (CONFIDENCE_FILE, MARKER_FILE, PSEUDO_GT_FILE, read_confidence,
                                                  read_marker)
from basicsr_skt.utils.tonemap import mu_law

#: SPGRM on VGG16 relu1_2 priors (64 channels), small enough for a CPU test.
TINY_TEACHER = {'type': 'SPGRM', 'embed_channels': 64, 'num_feat': 8, 'num_groups': 1, 'num_blocks': 1, 'embed_feat': 8}
PRIOR_ARGS = [
    '--backend', 'vgg16', '--vgg-layer', 'relu1_2', '--vgg-max-side', '48', '--source', 'reference', '--no-preview',
    '--device', 'cpu'
]


# ---------------------------------------------------------------------------------------------------- known values
def test_confidence_formula_on_a_hand_made_pair():
    teacher = torch.tensor([[1.0, 1.0, 2.0, 0.5]] * 3).view(3, 1, 4)  # (3, H=1, W=4)
    orm = torch.zeros(3, 1, 4)
    orm[0, 0, 1] = 1.0  # pixel 1: one channel agrees
    orm[:, 0, 3] = 0.5  # pixel 3: identical
    tau = 0.5
    expected = np.exp(-np.array([1.0, 2 / 3, 1.0, 0.0]) / tau)  # μ-law(1) = 1, μ-law(0) = 0; 2 is clipped to 1
    got = confidence_map(teacher, orm, tau)[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert confidence_map(teacher, teacher, tau).eq(1).all()


def test_weighted_loss_equals_the_hand_computed_value():
    pred = torch.tensor([0.0, 1.0, 0.5, 0.25]).view(1, 1, 2, 2).expand(2, 3, 2, 2).clone()
    pred[1] = 1.0 - pred[1]
    gt = torch.zeros(2, 3, 2, 2)
    labeled = torch.tensor([True, False])
    confidence = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.5, 0.0, 1.0, 0.25]]).view(2, 1, 2, 2)
    weight = loss_weight_map(labeled, confidence, unlabeled_weight=0.4)
    value = weighted_mean(MuLawL1Loss(reduction='none')(pred, gt), weight)
    mu = mu_law(np.array([0.0, 1.0, 0.5, 0.25]), 5000)
    mu_flipped = mu_law(np.array([1.0, 0.0, 0.5, 0.75]), 5000)
    by_hand = (mu.mean() + (0.4 * np.array([0.5, 0.0, 1.0, 0.25]) * mu_flipped).mean()) / 2
    assert value.item() == pytest.approx(by_hand, rel=1e-6)


def _weighted_batch(size=16):
    torch.manual_seed(0)
    return {
        'lq': torch.rand(2, 3, 6, size, size),
        'gt': torch.rand(2, 3, size, size),
        'labeled': torch.tensor([True, False]),
        'weight': torch.rand(2, 1, size, size),
        'scene': ['l0', 'u0']
    }


def _grads(model, batch, **extra):
    model.feed_data(batch)
    model.net_g.zero_grad()
    output = model.net_g(*model.lq.unbind(1))
    loss, _ = model.reconstruction_loss(output, model.gt, model.loss_weights(**extra))
    loss.backward()
    return [p.grad.clone() for p in model.net_g.parameters()], loss


def test_unlabeled_weight_zero_gives_exactly_the_labelled_gradient(tmp_path):
    model = HDRModel(model_opt(tmp_path, unlabeled_weight=0.0))
    batch = _weighted_batch()
    grads, loss = _grads(model, batch)
    # the labelled sample alone, as a plain HDRModel batch of one, divided by the batch size 2
    model.net_g.zero_grad()
    alone = model.reconstruction_loss(model.net_g(*batch['lq'][:1].unbind(1)), batch['gt'][:1])[0] / 2
    alone.backward()
    assert loss.item() == pytest.approx(alone.item(), rel=1e-6)
    for got, expected in zip(grads, [p.grad for p in model.net_g.parameters()]):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-8)
    # a labelled-only batch through the weighted path is the plain mean of HDRModel
    labelled = dict(batch, labeled=torch.tensor([True, True]))
    model.feed_data(labelled)
    output = model.net_g(*model.lq.unbind(1))
    weighted = model.reconstruction_loss(output, model.gt, model.loss_weights())[0]
    assert weighted.item() == pytest.approx(model.reconstruction_loss(output, model.gt)[0].item(), rel=1e-6)
    model.feed_data({'lq': batch['lq'], 'gt': batch['gt']})  # a batch without labels clears them
    assert model.loss_weights() is None


def test_skt_distills_on_unlabelled_samples_and_the_teacher_learns_from_labelled_ones(tmp_path):
    opt = skt_opt(tmp_path, distill_samples='unlabeled', skam_samples='unlabeled')
    opt['train']['unlabeled_weight'] = 0.5
    model = SKTModel(opt)
    batch = _weighted_batch()
    batch['skb_embedding'] = torch.randn(2, 8, 16, 16)
    batch['skb_labels'] = (torch.arange(16).view(1, 1, 16) >= 8).long().expand(2, 16, 16).clone()
    model.feed_data(batch)
    output, features = model.forward_student()
    teacher_output, teacher_features = model.forward_teacher(output.detach())
    model.output = output
    torch.manual_seed(1)
    terms = model.distillation_terms(0, features, teacher_output.detach(), teacher_features.detach())
    content = model.distill_losses['l_content'](output[1:], teacher_output[1:].detach(), gt=model.gt[1:])
    assert terms['l_content'].item() == pytest.approx(0.5 * content.item(), rel=1e-6)  # share 1/2 of the batch
    colour = model.distill_losses['l_colour'](
        output[1:], teacher_output[1:].detach(), model.skb_labels[1:], gt=model.gt[1:])
    assert terms['l_colour'].item() == pytest.approx(0.5 * colour.item(), rel=1e-6)
    assert set(terms) == {'l_content', 'l_colour', 'l_skam'}
    model.feed_data(dict(batch, labeled=torch.tensor([True, True])))  # no unlabelled sample: no distillation
    assert not model.distillation_terms(0, features, teacher_output.detach(), teacher_features.detach())
    model.feed_data(batch)
    teacher_loss = model.reconstruction_loss(teacher_output, model.gt, model.loss_weights(labeled_only=True))[0]
    alone = model.reconstruction_loss(teacher_output[:1], model.gt[:1])[0] / 2
    assert teacher_loss.item() == pytest.approx(alone.item(), rel=1e-6)
    with pytest.raises(ValueError, match='skt.distill_samples must be one of'):
        SKTModel(skt_opt(tmp_path, distill_samples='pseudo'))


# ---------------------------------------------------------------------------------------------------- end to end
def _camera_bracket(scene_dir, out_dir):
    """A scene's frames as 8-bit camera JPEGs with EXIF ExposureTime (4x apart) and no GT or exposure file."""
    out_dir.mkdir(parents=True)
    from PIL.TiffImagePlugin import IFDRational
    for index, name in enumerate(sorted(n for n in os.listdir(scene_dir) if n.endswith('.tif'))):
        frame = cv2.imread(str(scene_dir / name), cv2.IMREAD_UNCHANGED)
        rgb = np.round(frame[..., ::-1] / 257.0).astype(np.uint8)
        exif = Image.Exif()
        seconds = Fraction(1, 100) * 4**index
        exif.get_ifd(0x8769)[0x829A] = IFDRational(seconds.numerator, seconds.denominator)
        Image.fromarray(rgb).save(out_dir / f'IMG_{index}.jpg', 'JPEG', quality=95, exif=exif.tobytes())


def _unlabelled_folder(demo, out, gt_bytes):
    """The demo's held-out scenes without their GT: HDRImg.hdr replaced by ``gt_bytes`` (never to be read)."""
    for scene in sorted(os.listdir(demo / 'Test')):
        shutil.copytree(demo / 'Test' / scene, out / scene, ignore=shutil.ignore_patterns('skb_*'))
        (out / scene / 'HDRImg.hdr').write_bytes(gt_bytes)
    return out


@pytest.fixture(scope='module')
def recipe(tmp_path_factory):
    """Demo data with reference-source priors, random ORM + teacher checkpoints, unlabelled brackets (a Kalantari
    folder with a booby-trapped GT and a camera-JPEG bracket) and their pseudo labels."""
    root = tmp_path_factory.mktemp('unlabeled')
    demo = make_tiny_demo(root / 'demo', num_train=2, num_val=2)
    priors = load_script('make_semantic_priors')
    for split in ('Training', 'Test'):
        assert priors.main(['--dataroot', str(demo / split)] + PRIOR_ARGS) == 0
    torch.manual_seed(0)
    ckpt = {'g': root / 'net_g.pth', 't': root / 'net_t.pth'}
    torch.save({'params': build_network(dict(TINY_HDRT)).state_dict()}, ckpt['g'])
    teacher = build_network(dict(TINY_TEACHER))  # SPGRM starts as the identity (zero last conv): perturb it
    with torch.no_grad():
        for param in teacher.parameters():
            param.add_(0.05 * torch.randn_like(param))
    torch.save({'params': teacher.state_dict()}, ckpt['t'])
    config = load_yaml(OPTIONS_DIR / 'demo' / 'train_demo_skt_hdrtransformer_unlabeled.yml')
    config['network_g'], config['network_t'] = dict(TINY_HDRT), dict(TINY_TEACHER)
    config['datasets']['train']['dataroot'] = str(demo / 'Training')
    config_path = dump_yaml(config, root / 'teacher.yml')
    brackets = _unlabelled_folder(demo, root / 'unlabeled', b'#?RADIANCE\nnot a radiance map, never to be read\n')
    _camera_bracket(demo / 'Test' / 'demo_val_000', brackets / 'camera_jpeg')
    args = [
        str(brackets), '--config',
        str(config_path), '--orm-checkpoint',
        str(ckpt['g']), '--teacher-checkpoint',
        str(ckpt['t']), '--device', 'cpu', '--tau', '0.05'
    ]
    return {'root': root, 'demo': demo, 'ckpt': ckpt, 'config': config_path, 'brackets': brackets, 'args': args}


def _guard_gt_reads(monkeypatch):
    """Every way a GT could be read raises: files named HDRImg.* through open, OpenCV and hdr_io."""

    def trap(path):
        if 'HDRImg' in osp.basename(str(path)):
            raise AssertionError(f'the unlabelled GT {path} was read')

    real_open, real_imread, real_read_hdr = builtins.open, cv2.imread, hdr_io.read_hdr
    monkeypatch.setattr(builtins, 'open', lambda path, *a, **k: (trap(path), real_open(path, *a, **k))[1])
    monkeypatch.setattr(cv2, 'imread', lambda path, *a: (trap(path), real_imread(path, *a))[1])
    monkeypatch.setattr(hdr_io, 'read_hdr', lambda path, *a, **k: (trap(path), real_read_hdr(path, *a, **k))[1])


@pytest.fixture(scope='module')
def labelled(recipe, tmp_path_factory):
    out = recipe['root'] / 'pseudo'
    with pytest.MonkeyPatch.context() as monkeypatch:
        _guard_gt_reads(monkeypatch)
        summary = load_script('make_pseudo_labels').run(
            load_script('make_pseudo_labels').parse_args(recipe['args'] + ['-o', str(out)]))
    return out, summary


def test_pseudo_labels_layout_never_reading_the_gt(recipe, labelled):
    out, summary = labelled
    assert summary['labelled'] == ['camera_jpeg', 'demo_val_000', 'demo_val_001'] and not summary['skipped']
    for scene in summary['labelled']:
        folder = out / scene
        names = set(os.listdir(folder))
        assert {
            'input_1.tif', 'input_2.tif', 'input_3.tif', 'exposure.txt', PSEUDO_GT_FILE, CONFIDENCE_FILE, MARKER_FILE,
            'skb_embedding.npy', 'skb_labels.npy', 'skb_meta.json'
        } <= names
        assert 'HDRImg.hdr' not in names
        marker = read_marker(str(folder))
        assert marker['prior_source'] == 'reference' and marker['settings']['confidence'] == 'orm_agreement'
        confidence = read_confidence(str(folder / CONFIDENCE_FILE))
        assert 0 < confidence.min() < 0.99 and confidence.max() <= 1  # teacher and ORM disagree somewhere
        assert float(confidence.mean()) == pytest.approx(marker['stats']['confidence_mean'], abs=1e-4)
    # Kalantari frames are copied exactly (16-bit), and the camera bracket's EXIF times are 1 : 4 : 16
    source = cv2.imread(str(recipe['demo'] / 'Test' / 'demo_val_000' / 'input_2.tif'), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(cv2.imread(str(out / 'demo_val_000' / 'input_2.tif'), cv2.IMREAD_UNCHANGED), source)
    assert read_marker(str(out / 'camera_jpeg'))['relative_times'] == pytest.approx([1, 4, 16])
    assert read_marker(str(out / 'camera_jpeg'))['exposure_source'] == 'exif'


def test_labels_do_not_depend_on_the_gt_and_a_rerun_skips_finished_scenes(recipe, labelled, tmp_path):
    out, _ = labelled
    other = _unlabelled_folder(recipe['demo'], tmp_path / 'unlabeled',
                               (recipe['demo'] / 'Training' / 'demo_train_000' / 'HDRImg.hdr').read_bytes())
    script = load_script('make_pseudo_labels')
    args = [str(other)] + recipe['args'][1:]
    script.run(script.parse_args(args + ['-o', str(tmp_path / 'pseudo')]))
    for scene in ('demo_val_000', 'demo_val_001'):
        for name in (PSEUDO_GT_FILE, CONFIDENCE_FILE, 'skb_embedding.npy', 'input_1.tif'):
            assert (tmp_path / 'pseudo' / scene / name).read_bytes() == (out / scene / name).read_bytes()
    before = {scene: os.stat(tmp_path / 'pseudo' / scene / MARKER_FILE).st_mtime_ns for scene in os.listdir(other)}
    shutil.rmtree(tmp_path / 'pseudo' / 'demo_val_001')
    os.makedirs(tmp_path / 'pseudo' / '.demo_val_001.partial-1')  # an interrupted run's leftover is no scene
    summary = script.run(script.parse_args(args + ['-o', str(tmp_path / 'pseudo')]))
    assert summary['labelled'] == ['demo_val_001'] and summary['skipped'] == ['demo_val_000']
    assert os.stat(tmp_path / 'pseudo' / 'demo_val_000' / MARKER_FILE).st_mtime_ns == before['demo_val_000']


def test_semi_supervised_dataset_from_folders_and_lmdb(recipe, labelled):
    out, _ = labelled
    assert load_script('make_lmdb').main(
        ['--pseudo-labels', '--input',
         str(out), '--output', str(recipe['root'] / 'Pseudo.lmdb')]) == 0
    assert load_script('make_lmdb').main(
        ['--pseudo-labels', '--input',
         str(out), '--output',
         str(recipe['root'] / 'Pseudo.lmdb'), '--verify']) == 0
    opt = {
        'phase': 'train',
        'dataroot': str(recipe['demo'] / 'Training'),
        'dataroot_pseudo': str(out),
        'gt_size': 32,
        'skb': True
    }
    folders = SemiSupervisedHDRDataset(opt)
    lmdb = SemiSupervisedHDRDataset(
        dict(opt, dataroot_pseudo=str(recipe['root'] / 'Pseudo.lmdb'), io_backend_pseudo={'type': 'lmdb'}))
    assert len(folders) == len(lmdb) == 5
    for index in range(len(folders)):
        random.seed(index)
        a = folders[index]
        random.seed(index)
        b = lmdb[index]
        assert a['labeled'] == b['labeled'] == (index < 2)
        for key in ('lq', 'gt', 'weight', 'skb_embedding', 'skb_labels'):
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    item = folders[4]
    assert item['weight'].shape == (1, 32, 32) and item['weight'].max() <= 1 and not item['labeled']
    assert folders[0]['weight'].eq(1).all()
    # the pseudo label is the target; the network input is that of the bracket as labelled
    whole = PseudoLabelHDRDataset({'phase': 'val', 'dataroot': str(out)})
    scene = whole[[record.name for record in whole.scenes].index('demo_val_000')]
    target = hdr_io.read_hdr(str(out / 'demo_val_000' / PSEUDO_GT_FILE)).transpose(2, 0, 1)
    torch.testing.assert_close(scene['gt'], torch.from_numpy(target.copy()))
    camera = whole[[record.name for record in whole.scenes].index('camera_jpeg')]
    jpegs = sorted(str(path) for path in (recipe['brackets'] / 'camera_jpeg').iterdir())
    bracket = read_bracket(jpegs, 'camera_jpeg')
    expected = network_input(bracket.frames, bracket.times)
    torch.testing.assert_close(camera['lq'], torch.from_numpy(expected), rtol=1e-5, atol=1e-6)


def test_unfinished_scenes_and_a_gt_glob_are_refused(labelled, tmp_path):
    out, _ = labelled
    shutil.copytree(out / 'demo_val_000', tmp_path / 'pseudo' / 'demo_val_000')
    with pytest.raises(ValueError, match='gt_glob is not an option of pseudo-labelled data'):
        PseudoLabelHDRDataset({'phase': 'val', 'dataroot': str(tmp_path / 'pseudo'), 'gt_glob': 'HDRImg.hdr'})
    os.remove(tmp_path / 'pseudo' / 'demo_val_000' / MARKER_FILE)
    with pytest.raises(ValueError, match="scene 'demo_val_000'.*not .*pseudo-labelled.*make_pseudo_labels.py"):
        PseudoLabelHDRDataset({'phase': 'val', 'dataroot': str(tmp_path / 'pseudo')})


def test_priors_from_the_gt_are_refused(recipe, tmp_path):
    demo = tmp_path / 'demo'
    shutil.copytree(recipe['demo'] / 'Training', demo)
    for scene in os.listdir(demo):  # the same priors, re-saved as if made from the GT (with matching checksums)
        priors = load_scene_priors(str(demo / scene))
        meta = {k: v for k, v in priors['meta'].items() if k != 'crc32'}
        save_scene_priors(str(demo / scene), priors['embedding'], priors['labels'], dict(meta, source='gt'))
    script = load_script('make_pseudo_labels')
    args = script.parse_args(recipe['args'] + ['-o', str(tmp_path / 'out'), '--priors-like', str(demo)])
    with pytest.raises(ValueError, match='trained on priors from the ground truth.*--source reference'):
        script.run(args)
    assert not osp.exists(tmp_path / 'out' / 'demo_val_000')


def test_demo_unlabeled_config_trains_from_folders_and_lmdb(recipe, labelled, tmp_path):
    out, _ = labelled
    if not osp.isdir(recipe['root'] / 'Pseudo.lmdb'):
        load_script('make_lmdb').main(
            ['--pseudo-labels', '--input',
             str(out), '--output',
             str(recipe['root'] / 'Pseudo.lmdb')])
    base = load_yaml(OPTIONS_DIR / 'demo' / 'train_demo_skt_hdrtransformer_unlabeled.yml')
    for backend, pseudo in (('disk', out), ('lmdb', recipe['root'] / 'Pseudo.lmdb')):
        opt = copy.deepcopy(base)
        opt['name'] = f'unlabeled_{backend}'
        opt['network_g'], opt['network_t'] = dict(TINY_HDRT), dict(TINY_TEACHER)
        opt['network_skam'].update(orm_channels=TINY_HDRT['embed_dim'], teacher_channels=TINY_TEACHER['num_feat'])
        opt['datasets']['train'].update(
            dataroot=str(recipe['demo'] / 'Training'),
            dataroot_pseudo=str(pseudo),
            io_backend_pseudo={'type': backend},
            gt_size=32,
            batch_size_per_gpu=4,
            dataset_enlarge_ratio=1)
        opt['datasets']['val']['dataroot'] = str(recipe['demo'] / 'Test')
        opt['path'].update(pretrain_network_g=str(recipe['ckpt']['g']), pretrain_network_t=str(recipe['ckpt']['t']))
        opt['train'].update(total_iter=2)
        opt['val']['val_freq'] = 2
        opt['logger'].update(print_freq=1, save_checkpoint_freq=2, use_tb_logger=False)
        log = run_python(['-m', 'basicsr_skt.train', '-opt',
                          str(dump_yaml(opt, tmp_path / f'{backend}.yml'))],
                         cwd=tmp_path)
        assert 'l_content' in log and 'l_skam' in log and 'End of training' in log
        assert osp.isfile(tmp_path / 'experiments' / f'unlabeled_{backend}' / 'models' / 'net_g_latest.pth')


def test_the_gt_guard_catches_every_reader(recipe, monkeypatch):
    """The guard of the pseudo-label run is not vacuous: the project's GT readers trip it."""
    from basicsr_skt.data.scene_reader import FolderSceneReader
    scene = recipe['demo'] / 'Test' / 'demo_val_000' / 'HDRImg.hdr'
    _guard_gt_reads(monkeypatch)
    for read in (lambda: hdr_io.read_hdr(str(scene)), lambda: open(scene, 'rb'),
                 lambda: FolderSceneReader(str(recipe['demo'] / 'Test')).read_full('demo_val_000', 'gt')):
        with pytest.raises(AssertionError, match='unlabelled GT .* was read'):
            read()


@pytest.mark.parametrize('source', ['reference', 'orm'])
def test_priors_from_the_inputs_match_make_semantic_priors(recipe, tmp_path, source):
    """Teacher trained on priors of one source, labels with priors of the same source, made by the same function: the
    labelled scene's priors equal those make_semantic_priors.py computes on the written scene."""
    priors = load_script('make_semantic_priors')
    orm_args = ['--orm-checkpoint', str(recipe['ckpt']['g']), '--orm-opt'
                ] + [f'{key}={value}' for key, value in TINY_HDRT.items() if key != 'type']
    extra = orm_args if source == 'orm' else []
    at = PRIOR_ARGS.index('--source')
    args = PRIOR_ARGS[:at] + ['--source', source] + PRIOR_ARGS[at + 2:]
    training = tmp_path / 'Training'
    shutil.copytree(recipe['demo'] / 'Training', training)
    assert priors.main(['--dataroot', str(training), '--force'] + args + extra) == 0
    brackets = tmp_path / 'brackets'
    shutil.copytree(recipe['brackets'] / 'demo_val_001', brackets / 'demo_val_001')
    script = load_script('make_pseudo_labels')
    script.run(
        script.parse_args([str(brackets)] + recipe['args'][1:] +
                          ['-o', str(tmp_path / 'pseudo'), '--priors-like',
                           str(training), '--pad-multiple', '1']))
    written = tmp_path / 'pseudo' / 'demo_val_001'
    assert read_marker(str(written))['prior_source'] == source
    assert priors.main(
        ['--dataroot',
         str(tmp_path / 'pseudo'), '--gt-glob', PSEUDO_GT_FILE, '--skb-root',
         str(tmp_path / 'again')] + args + extra) == 0
    for name in ('skb_embedding.npy', 'skb_labels.npy'):
        np.testing.assert_array_equal(np.load(written / name), np.load(tmp_path / 'again' / 'demo_val_001' / name))


def test_output_inside_the_input_is_refused(recipe):
    script = load_script('make_pseudo_labels')
    args = script.parse_args(recipe['args'] + ['-o', str(recipe['brackets'] / 'labels')])
    with pytest.raises(ValueError, match='-o/--output'):
        script.run(args)
    assert not osp.exists(recipe['brackets'] / 'labels')


def test_brackets_from_an_lmdb_give_the_same_labels_without_reading_its_gt(recipe, labelled, tmp_path, monkeypatch):
    from basicsr_skt.data.lmdb_reader import LmdbSceneReader
    out, _ = labelled
    db = tmp_path / 'Test.lmdb'
    assert load_script('make_lmdb').main(['--input', str(recipe['demo'] / 'Test'), '--output', str(db)]) == 0
    real_full, real_windows = LmdbSceneReader.read_full, LmdbSceneReader.read_windows

    def guarded_full(self, scene, key):
        assert key != 'gt', f'the unlabelled GT {scene}/gt was read'
        return real_full(self, scene, key)

    def guarded_windows(self, scene, keys, *args):
        assert 'gt' not in keys, f'the unlabelled GT {scene}/gt was read'
        return real_windows(self, scene, keys, *args)

    monkeypatch.setattr(LmdbSceneReader, 'read_full', guarded_full)
    monkeypatch.setattr(LmdbSceneReader, 'read_windows', guarded_windows)
    script = load_script('make_pseudo_labels')
    summary = script.run(script.parse_args([str(db)] + recipe['args'][1:] + ['-o', str(tmp_path / 'pseudo')]))
    assert summary['labelled'] == ['demo_val_000', 'demo_val_001']
    for scene in summary['labelled']:
        for name in (PSEUDO_GT_FILE, CONFIDENCE_FILE, 'skb_embedding.npy', 'input_1.tif', 'exposure.txt'):
            assert (tmp_path / 'pseudo' / scene / name).read_bytes() == (out / scene / name).read_bytes(), name
        assert read_marker(str(tmp_path / 'pseudo' / scene))['exposure_source'] == 'lmdb'


def test_prior_agreement_confidence_compares_the_teacher_with_and_without_its_priors(recipe):
    from basicsr_skt.inference import pseudo_labels
    from basicsr_skt.inference.teacher import priors_off, run_teacher, teacher_frames
    from basicsr_skt.skb.backend_settings import backend_from_meta, find_prior_meta
    meta = find_prior_meta(str(recipe['demo'] / 'Training'))
    nets = {}
    for key, spec in (('g', TINY_HDRT), ('t', TINY_TEACHER)):
        nets[key] = build_network(dict(spec)).eval()
        nets[key].load_state_dict(torch.load(recipe['ckpt'][key])['params'])
    labeller = pseudo_labels.Labeller(nets['g'], nets['t'], backend_from_meta(meta), torch.device('cpu'), {}, meta)
    scene = pseudo_labels.find_bracket_scenes(str(recipe['brackets'] / 'demo_val_000'))[0]
    bracket = read_bracket(scene.frames, scene.name, exposure_file=osp.join(scene.folder, 'exposure.txt'))
    settings = pseudo_labels.LabelSettings(confidence='prior_agreement', tau=0.02)
    labels = pseudo_labels.label_bracket(labeller, settings, bracket)
    lq = torch.from_numpy(network_input(bracket.frames, bracket.times))[None]
    with torch.no_grad(), priors_off(nets['t']):
        without = run_teacher(nets['t'], labels['orm'][None], teacher_frames(lq), None, None)
    expected = confidence_map(labels['teacher'][None], without, 0.02)[0]
    torch.testing.assert_close(labels['confidence'], expected, rtol=1e-5, atol=1e-6)
    assert labels['confidence'].min() < 0.99  # the priors change the perturbed teacher's result


def test_a_teacher_without_priors_labels_without_them(recipe, tmp_path):
    """The self-training control: a prior-free teacher needs no priors and the labels carry none."""
    config = load_yaml(recipe['config'])
    config['network_t']['use_semantics'] = False
    config_path = dump_yaml(config, tmp_path / 'selftrain.yml')
    script = load_script('make_pseudo_labels')
    args = recipe['args'][:1] + ['--config', str(config_path)] + recipe['args'][3:] + ['-o', str(tmp_path / 'out')]
    summary = script.run(script.parse_args(args))
    assert len(summary['labelled']) == 3
    folder = tmp_path / 'out' / 'demo_val_000'
    assert read_marker(str(folder))['prior_source'] is None and not osp.exists(folder / 'skb_meta.json')
    assert read_marker(str(folder))['provenance']['teacher_uses_priors'] is False
