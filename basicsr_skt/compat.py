"""Fixes for BasicSR's gaps on CPU and in plugin use, applied once when ``basicsr_skt`` is imported.

Each patch replaces one BasicSR function (or, in the stock pipeline modules, the name it is looked up by) with an
equivalent that is a no-op where BasicSR already behaves. The table of every patch (BasicSR function, the line of
``basicsr==1.4.2`` it fixes, why, and the test that covers it) is in ``docs/training.md``, "Patches to BasicSR":

* ``Registry.get``: unknown names list the registered ones (:func:`registry_get`).
* ``train.load_resume_state``: CPU map location, ``--auto_resume`` under the experiment folder, truncated checkpoints
  skipped (:func:`load_resume_state`).
* ``train.create_train_val_dataloader`` / ``train.EnlargedSampler``: the training sampler is a
  :class:`~basicsr_skt.utils.resumable_sampler.ResumableSampler` told where a resumed run stopped
  (:func:`wrap_create_train_val_dataloader`).
* ``dist_util.init_dist`` (and its import in ``options``): gloo without CUDA, ``dist_params.backend``
  (:func:`init_dist`).
* ``BaseModel.model_to_device``: DDP without CUDA ``device_ids`` on the CPU (:func:`model_to_device`).
* ``options.parse_options``: experiments under the current directory for an installed BasicSR, option checks
  (:func:`wrap_parse_options`).
* ``data.build_dataloader``: a training batch larger than an epoch is an error (:func:`wrap_build_dataloader`).

Besides the patches, :func:`check_basicsr_version` warns once, at import, when the installed BasicSR is not one of
:data:`TESTED_BASICSR_VERSIONS`.
"""
import argparse
import difflib
import os
import os.path as osp
import sys
import warnings
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional

import torch
import yaml

import basicsr.data as basicsr_data
from basicsr.models import base_model
from basicsr.utils import dist_util, get_root_logger, options, registry
from basicsr.utils.misc import scandir
from basicsr_skt.utils import file_checks, option_checks
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.resumable_sampler import ResumableSampler

_PATCHED_MARK = '_basicsr_skt_patched'
#: ``basicsr.__version__`` of the BasicSR builds the plugin is tested with (scripts/setup_env.sh): the PyPI release
#: ``basicsr==1.4.2`` and ``basicsr-volta==1.4.4``, a master-equivalent build (whose ``basicsr.__version__`` is
#: ``'1.4.4'``).
TESTED_BASICSR_VERSIONS = ('1.4.2', '1.4.4')


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


def state_files(state_dir: str) -> List[str]:
    """Paths of the ``<iter>.state`` files in ``state_dir``, newest iteration first (empty if there are none)."""
    if not osp.isdir(state_dir):
        return []
    iters = sorted((int(float(name[:-len('.state')])) for name in scandir(state_dir, suffix='.state', recursive=False)),
                   reverse=True)
    return [osp.join(state_dir, f'{it}.state') for it in iters]


def find_latest_state(state_dir: str) -> Optional[str]:
    """Path of the ``<iter>.state`` file with the largest iteration in ``state_dir`` (None if there is none)."""
    files = state_files(state_dir)
    return files[0] if files else None


def network_files(opt: Dict[str, Any], resume_iter: int) -> List[str]:
    """The network checkpoints a resume from ``resume_iter`` reloads: ``models/net_<x>_<iter>.pth`` for every network
    the run's model saves: its ``checkpoint_networks(opt)`` when the ``model_type`` has one (``HDRModel`` and its
    subclasses; e.g. ``SKTModel`` saves ``network_skam`` only when it trains SKAM heads), else every ``network_<x>``
    section (BasicSR's ``check_resume`` convention)."""
    model_type = opt.get('model_type')
    model_cls = registry.MODEL_REGISTRY.get(model_type) if model_type in registry.MODEL_REGISTRY else None
    if hasattr(model_cls, 'checkpoint_networks'):
        labels = model_cls.checkpoint_networks(opt)
    else:
        labels = [key[len('network_'):] for key in opt if key.startswith('network_')]
    return [osp.join(opt['path']['models'], f'net_{label}_{resume_iter}.pth') for label in labels]


def read_training_state(state_path: str, opt: Dict[str, Any]) -> Dict[str, Any]:
    """Load a training state and check that the network files it resumes from are complete.

    Raises:
        RuntimeError: The state or one of its network files is missing, truncated or not a checkpoint; the message
            names the file.
    """
    try:
        # Training states hold optimiser and scheduler objects (e.g. a Counter), so weights_only=False: they are files
        # this run (or the user) wrote, never downloaded ones.
        file_checks.verify_checkpoint(state_path, 'training state')
        state = torch.load(state_path, map_location=resume_map_location(opt), weights_only=False)
        if not isinstance(state, dict) or 'iter' not in state:
            raise ValueError('not a BasicSR training state (no "iter" entry)')
    except Exception as err:  # truncated zip, unpickling error, EOF ...: all mean "unusable file"
        raise RuntimeError(f'Training state {state_path} is unreadable (truncated or corrupt?): {err}') from err
    for path in network_files(opt, state['iter']):
        try:
            file_checks.verify_checkpoint(path, 'network file')
            torch.load(path, map_location='cpu', weights_only=True)
        except Exception as err:
            raise RuntimeError(f'Network file {path} of training state {state_path} is missing or unreadable '
                               f'(truncated or corrupt?): {err}') from err
    return state


def load_resume_state(opt: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """Device-agnostic replacement of ``basicsr.train.load_resume_state`` that survives a killed run.

    With ``--auto_resume`` the newest *complete* state under ``<experiments_root>/training_states`` is used (BasicSR
    looks relative to the current directory instead, which breaks when the root is elsewhere): a state or network
    file left truncated by a crash is reported with a warning and the previous checkpoint is taken. An explicit
    ``path.resume_state`` that is unreadable is an error naming the file.
    """
    from basicsr.utils import check_resume

    if opt.get('auto_resume'):
        state_dir = osp.join(opt['path']['experiments_root'], 'training_states')
        state_path, state = None, None
        for candidate in state_files(state_dir):
            try:
                state = read_training_state(candidate, opt)
            except RuntimeError as err:
                get_root_logger().warning(f'{err} -- trying the previous checkpoint.')
                continue
            state_path = candidate
            break
        if state_path is None:
            return None
        opt['path']['resume_state'] = state_path
    elif opt['path'].get('resume_state'):
        state = read_training_state(opt['path']['resume_state'], opt)
    else:
        return None
    check_resume(opt, state['iter'])
    return state


# ----------------------------------------------------------------------------------------------------------------------
# Exact resume of the data order
# ----------------------------------------------------------------------------------------------------------------------
def wrap_create_train_val_dataloader(create: Callable) -> Callable:
    """Wrap BasicSR's ``train.create_train_val_dataloader`` so a resumed run's training sampler continues the epoch.

    The stock pipeline builds its training sampler by the name ``EnlargedSampler`` of its own module, which
    :func:`patch_pipeline_module` binds to :class:`~basicsr_skt.utils.resumable_sampler.ResumableSampler`. When the run
    resumes (``path.resume_state`` is set by :func:`load_resume_state`, which runs first), the state's epoch, iteration
    and generator states are passed to the sampler with
    :meth:`~basicsr_skt.utils.resumable_sampler.ResumableSampler.resume_from_state`.
    """

    def create_train_val_dataloader(opt, logger):
        result = create(opt, logger)
        train_sampler, state_path = result[1], opt['path'].get('resume_state')
        if state_path and isinstance(train_sampler, ResumableSampler):
            # The state is read again (BasicSR's pipeline keeps its copy to itself): epoch, iter and rng only.
            state = torch.load(state_path, map_location='cpu', weights_only=False)
            train_sampler.resume_from_state(state, opt['datasets']['train']['batch_size_per_gpu'])
        return result

    create_train_val_dataloader.original = create
    return _mark(create_train_val_dataloader)


def wrap_build_dataloader(build: Callable) -> Callable:
    """Wrap ``basicsr.data.build_dataloader`` so a training loader without a single batch is an error.

    The training loader drops its last incomplete batch, so a batch larger than the samples of an epoch gives no batch
    at all: BasicSR then trains zero iterations, exits 0 and saves the untrained network as ``net_g_latest``.
    """

    def build_dataloader(dataset, dataset_opt, num_gpu=1, dist=False, sampler=None, seed=None):
        loader = build(dataset, dataset_opt, num_gpu=num_gpu, dist=dist, sampler=sampler, seed=seed)
        if dataset_opt.get('phase') == 'train' and len(loader) == 0:
            samples = len(sampler) if sampler is not None else len(dataset)
            per = 'per process' if dist else f'for {max(num_gpu, 1)} device(s)'
            raise UserInputError(
                f"Training dataset {dataset_opt.get('name', '')!r}: the batch ({loader.batch_size} {per}, from "
                f"batch_size_per_gpu: {dataset_opt.get('batch_size_per_gpu')}) is larger than the {samples} samples of "
                f'an epoch ({len(dataset)} scenes x dataset_enlarge_ratio '
                f"{dataset_opt.get('dataset_enlarge_ratio', 1)}); the incomplete batch is dropped, so the run would "
                'train zero iterations and save an untrained network. Lower datasets:train:batch_size_per_gpu or raise '
                'dataset_enlarge_ratio')
        return loader

    return _mark(build_dataloader)


# ----------------------------------------------------------------------------------------------------------------------
# Distributed
# ----------------------------------------------------------------------------------------------------------------------
#: ``dist_params.backend`` of the YAML being parsed (read by :func:`wrap_parse_options` before BasicSR's
#: ``parse_options`` calls ``init_dist`` without it for the pytorch launcher).
_config_dist_backend: Dict[str, Optional[str]] = {}


def config_dist_backend(argv: List[str]) -> Optional[str]:
    """``dist_params.backend`` of the YAML named by ``-opt`` in ``argv`` (None when absent or unreadable)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('-opt')
    known, _ = parser.parse_known_args(argv)
    if not known.opt or not osp.isfile(known.opt):
        return None
    try:
        with open(known.opt, 'r', encoding='utf-8') as f:
            opt = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return None  # BasicSR's own parser reports the problem
    params = opt.get('dist_params') if isinstance(opt, dict) else None
    return params.get('backend') if isinstance(params, dict) else None


def default_dist_backend() -> str:
    """NCCL when CUDA is available, gloo otherwise."""
    return 'nccl' if torch.cuda.is_available() else 'gloo'


def init_dist(launcher: str, backend: Optional[str] = None, **kwargs) -> None:
    """Device-agnostic ``basicsr.utils.dist_util.init_dist`` (launchers ``pytorch`` and ``slurm``).

    Args:
        launcher: ``'pytorch'`` (torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_*) or ``'slurm'``.
        backend: ``'nccl'``/``'gloo'``; None takes ``dist_params.backend`` of the run's YAML (BasicSR passes it only
            to slurm), else :func:`default_dist_backend`. NCCL without CUDA falls back to gloo.
        **kwargs: Passed to ``torch.distributed.init_process_group`` (pytorch) or ``port`` (slurm).
    """
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if backend is None:
        backend = _config_dist_backend.get('backend')
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


def check_option_arguments(argv: List[str]) -> Optional[str]:
    """Before BasicSR reads them: the ``-opt`` file (duplicate keys) and the ``--force_yml`` entries (misspelled keys).

    Returns:
        The option file, or None when ``argv`` names none (BasicSR's own parser then reports the usage error).

    Raises:
        UserInputError: See :func:`~basicsr_skt.utils.option_checks.read_option_file` and
            :func:`~basicsr_skt.utils.option_checks.check_force_yml`.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('-opt')
    parser.add_argument('--force_yml', nargs='+', default=None)
    known, _ = parser.parse_known_args(argv)
    if not known.opt:
        return None
    opt = option_checks.read_option_file(known.opt)
    option_checks.check_force_yml(opt, known.force_yml or [], known.opt)
    return known.opt


def check_parsed_options(opt: Dict[str, Any], source: str) -> None:
    """After BasicSR parsed them: run name, ``num_gpu`` without CUDA, zero frequencies, pretrained files.

    Raises:
        UserInputError: See :func:`~basicsr_skt.utils.option_checks.check_run_options` and
            :func:`~basicsr_skt.utils.file_checks.check_checkpoint_file`.
    """
    option_checks.check_run_options(opt, source, torch.cuda.is_available())
    for key, section in opt.items():
        if key.startswith('network_') and isinstance(section, dict) and section.get('type') in registry.ARCH_REGISTRY:
            option_checks.check_network_options(key, section, registry.ARCH_REGISTRY.get(section['type']), source)
    for key, value in (opt.get('path') or {}).items():
        if 'pretrain_network' in key and value:
            file_checks.check_checkpoint_file(value, f'path.{key} in {source}')


def wrap_parse_options(parse: Callable) -> Callable:
    """Wrap ``parse_options`` so stock pipelines run from an installed BasicSR write under the current directory,
    a stock entry run as a script gets the pipeline patches (:func:`patch_pipeline_module`), ``--launcher pytorch``
    uses ``dist_params.backend``, and the option file and options are checked (:func:`check_option_arguments`,
    :func:`check_parsed_options`)."""

    def parse_options(root_path: str, is_train: bool = True):
        source = check_option_arguments(sys.argv[1:])
        _config_dist_backend['backend'] = config_dist_backend(sys.argv[1:])
        patch_pipeline_module(sys.modules.get('__main__'))  # ``python -m basicsr.train``: see the function
        if not is_environment_root(root_path):
            opt, args = parse(root_path, is_train=is_train)
        else:
            opt, args = parse(os.getcwd(), is_train=is_train)
            opt = _RootPinnedOptions(opt)
            opt['root_path'] = os.getcwd()
        if source is not None:
            check_parsed_options(opt, source)
        return opt, args

    return _mark(parse_options)


# ----------------------------------------------------------------------------------------------------------------------
def check_basicsr_version(version: Optional[str] = None) -> Optional[str]:
    """Warn (``warnings.warn``, a ``UserWarning``) when BasicSR's version is not one the plugin is tested with.

    Called once by ``import basicsr_skt``. The patches above fix lines of the tested versions; another version may
    work, or may have moved what they patch.

    Args:
        version: The version to check; default ``basicsr.__version__`` (None when BasicSR does not say).

    Returns:
        The warning's message, or None for a tested version.
    """
    if version is None:
        import basicsr
        version = getattr(basicsr, '__version__', None)
    if version in TESTED_BASICSR_VERSIONS:
        return None
    message = (f'basicsr_skt is tested with BasicSR {" and ".join(TESTED_BASICSR_VERSIONS)} (basicsr==1.4.2, '
               f'basicsr-volta==1.4.4), but BasicSR {version} is installed: its training and test pipelines may '
               'differ from what the plugin patches. Install a tested version with scripts/setup_env.sh '
               '(docs/install.md)')
    warnings.warn(message, UserWarning, stacklevel=2)
    return message


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
    if not _is_patched(basicsr_data.build_dataloader):
        basicsr_data.build_dataloader = wrap_build_dataloader(basicsr_data.build_dataloader)
    for name in ('basicsr.train', 'basicsr.test', '__main__'):
        patch_pipeline_module(sys.modules.get(name))


def patch_pipeline_module(module: Any) -> None:
    """Bind the patched functions in a module of BasicSR's stock pipelines (``basicsr/train.py``, ``basicsr/test.py``,
    imported or run as ``__main__``); any other module is left alone.

    Those modules import ``parse_options`` and ``build_dataloader`` by name and define ``load_resume_state`` and
    ``create_train_val_dataloader`` themselves, so patching the defining modules does not reach them. When
    ``basicsr/train.py`` runs as ``__main__`` (``python -m basicsr.train``, or the file of a checkout), its functions
    are defined after the plugin was imported; the patched ``parse_options``, the first call of ``train_pipeline``,
    then calls this for ``__main__`` before the pipeline looks the other names up. Idempotent.
    """
    if module is None or not (hasattr(module, 'train_pipeline') or hasattr(module, 'test_pipeline')):
        return
    if hasattr(module, 'parse_options'):
        module.parse_options = options.parse_options
    if hasattr(module, 'load_resume_state'):
        module.load_resume_state = load_resume_state
    if hasattr(module, 'train_pipeline') and hasattr(module, 'build_dataloader'):
        module.build_dataloader = basicsr_data.build_dataloader
    if hasattr(module, 'EnlargedSampler'):
        module.EnlargedSampler = ResumableSampler
    create = getattr(module, 'create_train_val_dataloader', None)
    if create is not None and not _is_patched(create):
        module.create_train_val_dataloader = wrap_create_train_val_dataloader(create)
