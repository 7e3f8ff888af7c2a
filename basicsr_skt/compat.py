"""Fixes for BasicSR's gaps on CPU and in plugin use, applied once when ``basicsr_skt`` is imported.

Each patch replaces one BasicSR function with a device-agnostic equivalent and is a no-op where BasicSR already
behaves. They hold for the official ``basicsr==1.4.2`` and for master-equivalent builds alike:

===============================  ===========================================================================
BasicSR function                 what goes wrong / what the patch does
===============================  ===========================================================================
``Registry.get``                 silent ``<name>_basicsr`` fallback with a ``print``; unknown names give a bare
                                 ``KeyError``. Patched: the error lists the registered names and the closest ones.
``train.load_resume_state``      maps the state to the current CUDA device (fails without a GPU).
                                 Patched: maps to the CPU when ``num_gpu`` is 0 or CUDA is absent.
``dist_util.init_dist``          hard-codes NCCL and ``rank % cuda.device_count()`` (ZeroDivisionError on CPU).
                                 Patched: gloo without CUDA, NCCL with it; device from ``LOCAL_RANK``.
``BaseModel.model_to_device``    wraps DDP with CUDA ``device_ids`` even on CPU. Patched: no ``device_ids`` on CPU.
``options.parse_options``        ``python -m basicsr.train`` uses the *installed* package's parent (site-packages)
                                 as root, so experiments/ and tb_logger/ land inside the environment. Patched: such
                                 a root is replaced by the current directory (a source checkout keeps its root).
===============================  ===========================================================================
"""
import difflib
import inspect
import os
import os.path as osp
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional

import torch

from basicsr.models import base_model
from basicsr.utils import dist_util, options, registry
from basicsr.utils.misc import scandir

_PATCHED_MARK = '_basicsr_skt_patched'


def _mark(func: Callable) -> Callable:
    setattr(func, _PATCHED_MARK, True)
    return func


def _is_patched(func: Any) -> bool:
    return getattr(func, _PATCHED_MARK, False)


# ----------------------------------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------------------------------
def registry_get(self: registry.Registry, name: str, suffix: str = 'basicsr') -> Any:
    """``Registry.get`` that names the registered alternatives when ``name`` is unknown."""
    obj = self._obj_map.get(name)
    if obj is None:
        obj = self._obj_map.get(f'{name}_{suffix}')
    if obj is None:
        known = sorted(self._obj_map.keys())
        close = difflib.get_close_matches(name, known, n=3)
        hint = f' Did you mean {", ".join(close)}?' if close else ''
        raise KeyError(
            f"No object named '{name}' found in '{self._name}' registry.{hint} "
            f"Registered names: {', '.join(known)}. (Plugin classes are registered by `import basicsr_skt`.)")
    return obj


# ----------------------------------------------------------------------------------------------------------------------
# Resume
# ----------------------------------------------------------------------------------------------------------------------
def resume_map_location(opt: Dict[str, Any]) -> torch.device:
    """Device a resume state is loaded onto: the CPU unless the run uses a GPU."""
    if opt.get('num_gpu', 0) != 0 and torch.cuda.is_available():
        return torch.device('cuda')  # the current CUDA device
    return torch.device('cpu')


def find_latest_state(state_dir: str) -> Optional[str]:
    """Path of the ``<iter>.state`` file with the largest iteration in ``state_dir`` (None if there is none)."""
    if not osp.isdir(state_dir):
        return None
    iters = [int(float(name[:-len('.state')])) for name in scandir(state_dir, suffix='.state', recursive=False)]
    return osp.join(state_dir, f'{max(iters)}.state') if iters else None


def load_resume_state(opt: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """Device-agnostic replacement of ``basicsr.train.load_resume_state`` (same behaviour otherwise).

    With ``--auto_resume`` the newest state under ``<experiments_root>/training_states`` is used (BasicSR looks
    relative to the current directory instead, which breaks when the root is elsewhere).
    """
    from basicsr.utils import check_resume

    state_path = None
    if opt.get('auto_resume'):
        state_dir = osp.join(opt['path']['experiments_root'], 'training_states')
        state_path = find_latest_state(state_dir)
        if state_path is not None:
            opt['path']['resume_state'] = state_path
    elif opt['path'].get('resume_state'):
        state_path = opt['path']['resume_state']
    if state_path is None:
        return None
    # Training states hold optimiser and scheduler objects (e.g. a Counter), so weights_only=False: they are files
    # this run (or the user) wrote, never downloaded ones.
    state = torch.load(state_path, map_location=resume_map_location(opt), weights_only=False)
    check_resume(opt, state['iter'])
    return state


# ----------------------------------------------------------------------------------------------------------------------
# Distributed
# ----------------------------------------------------------------------------------------------------------------------
def default_dist_backend() -> str:
    """NCCL when CUDA is available, gloo otherwise."""
    return 'nccl' if torch.cuda.is_available() else 'gloo'


def init_dist(launcher: str, backend: Optional[str] = None, **kwargs) -> None:
    """Device-agnostic ``basicsr.utils.dist_util.init_dist`` (launchers ``pytorch`` and ``slurm``).

    Args:
        launcher: ``'pytorch'`` (torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_*) or ``'slurm'``.
        backend: ``'nccl'``/``'gloo'``; None picks :func:`default_dist_backend`. NCCL without CUDA falls back to gloo.
        **kwargs: Passed to ``torch.distributed.init_process_group`` (pytorch) or ``port`` (slurm).
    """
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if backend is None or (backend == 'nccl' and not torch.cuda.is_available()):
        backend = default_dist_backend()
    if mp.get_start_method(allow_none=True) is None:
        mp.set_start_method('spawn')
    if launcher == 'slurm':
        _slurm_env(kwargs.pop('port', None))
    elif launcher != 'pytorch':
        raise ValueError(f'Invalid launcher type: {launcher!r} (expected "pytorch" or "slurm")')
    if torch.cuda.is_available() and backend == 'nccl':
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', os.environ.get('RANK', 0))) % torch.cuda.device_count())
    dist.init_process_group(backend=backend, **kwargs)


def _slurm_env(port: Optional[int]) -> None:
    """Translate SLURM variables into the ones ``init_process_group`` reads (as BasicSR does)."""
    import subprocess

    proc_id = int(os.environ['SLURM_PROCID'])
    gpus = max(torch.cuda.device_count(), 1)
    node_list = os.environ['SLURM_NODELIST']
    os.environ['MASTER_ADDR'] = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
    os.environ['MASTER_PORT'] = str(port or os.environ.get('MASTER_PORT', 29500))
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['LOCAL_RANK'] = str(proc_id % gpus)
    os.environ['RANK'] = str(proc_id)


def model_to_device(self: base_model.BaseModel, net: torch.nn.Module) -> torch.nn.Module:
    """Device-agnostic ``BaseModel.model_to_device``: DDP gets CUDA ``device_ids`` only on a GPU."""
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    net = net.to(self.device)
    if self.opt['dist']:
        device_ids = [self.device.index or int(os.environ.get('LOCAL_RANK', 0))] if self.device.type == 'cuda' else None
        net = DistributedDataParallel(
            net, device_ids=device_ids, find_unused_parameters=self.opt.get('find_unused_parameters', False))
    elif self.opt['num_gpu'] > 1 and self.device.type == 'cuda':
        net = DataParallel(net)
    return net


# ----------------------------------------------------------------------------------------------------------------------
# Root folder of experiments/, results/, tb_logger/
# ----------------------------------------------------------------------------------------------------------------------
def is_environment_root(root_path: str) -> bool:
    """Whether ``root_path`` is an installed-packages folder (site-packages / dist-packages)."""
    return osp.basename(osp.normpath(root_path)) in ('site-packages', 'dist-packages')


class _RootPinnedOptions(OrderedDict):
    """Option dict whose ``root_path`` cannot be set back to an installed-packages folder by the stock pipeline."""

    def __setitem__(self, key, value):
        if key == 'root_path' and isinstance(value, str) and is_environment_root(value) and 'root_path' in self:
            return
        super().__setitem__(key, value)


def wrap_parse_options(parse: Callable) -> Callable:
    """Wrap ``parse_options`` so stock pipelines run from an installed BasicSR write under the current directory,
    and so the calling pipeline resumes device-agnostically."""

    def parse_options(root_path: str, is_train: bool = True):
        caller = inspect.currentframe().f_back.f_globals
        if 'load_resume_state' in caller and caller.get('__name__') in ('__main__', 'basicsr.train'):
            caller['load_resume_state'] = load_resume_state
        if not is_environment_root(root_path):
            return parse(root_path, is_train=is_train)
        opt, args = parse(os.getcwd(), is_train=is_train)
        pinned = _RootPinnedOptions(opt)
        pinned['root_path'] = os.getcwd()
        return pinned, args

    return _mark(parse_options)


# ----------------------------------------------------------------------------------------------------------------------
def apply_patches() -> None:
    """Apply every patch above (idempotent)."""
    if not _is_patched(registry.Registry.get):
        registry.Registry.get = _mark(registry_get)
    if not _is_patched(base_model.BaseModel.model_to_device):
        base_model.BaseModel.model_to_device = _mark(model_to_device)
    for module in (dist_util, options):
        if not _is_patched(module.init_dist):
            module.init_dist = _mark(init_dist)
    if not _is_patched(options.parse_options):
        options.parse_options = wrap_parse_options(options.parse_options)
    _patch_loaded_pipelines()


def _patch_loaded_pipelines() -> None:
    """Rebind names that ``basicsr.train`` / ``basicsr.test`` imported before the patches existed."""
    import sys

    for name in ('basicsr.train', 'basicsr.test', '__main__'):
        module = sys.modules.get(name)
        if module is None:
            continue
        if hasattr(module, 'parse_options') and (hasattr(module, 'train_pipeline') or hasattr(module, 'test_pipeline')):
            module.parse_options = options.parse_options
        if hasattr(module, 'load_resume_state'):
            module.load_resume_state = load_resume_state
