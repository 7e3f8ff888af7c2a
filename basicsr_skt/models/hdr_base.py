"""``HDRBaseModel``: the parts of :class:`~basicsr_skt.models.hdr_model.HDRModel` that are not about HDR.

BasicSR's ``BaseModel`` with: networks placed (and DDP-wrapped only when trained), weights loaded from BasicSR or
official checkpoints with a clear error on a mismatch, any ``torch.optim`` optimiser of :data:`OPTIMIZERS`,
checkpoints written atomically by rank 0, and training states that hold the global random generators so that a
resumed run continues exactly (with :class:`~basicsr_skt.utils.resumable_sampler.ResumableSampler` for the data).
"""
import os.path as osp
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from basicsr.models.base_model import BaseModel
from basicsr.utils import get_root_logger
from basicsr_skt.utils.checkpoint import atomic_save, check_state_dict_fits, unwrap_state_dict
from basicsr_skt.utils.file_checks import verify_checkpoint
from basicsr_skt.utils.rng import capture_rng_state, restore_rng_state

#: Optimisers selectable with ``train.optim_<x>.type`` (basicsr 1.4.2 itself only knows Adam).
OPTIMIZERS = ('Adam', 'AdamW', 'Adamax', 'SGD', 'ASGD', 'RMSprop', 'Rprop')


class HDRBaseModel(BaseModel):
    """``BaseModel`` with device-agnostic, atomic checkpoints, exact-resume states and tolerant weight loading.

    Not registered: :class:`~basicsr_skt.models.hdr_model.HDRModel` and its subclasses build on it. Weights of a
    network ``net_<x>`` come from ``path.pretrain_network_<x>`` with ``strict_load_<x>`` and ``param_key_<x>``
    (:meth:`load_pretrained`), BasicSR's ``network_<x>`` convention.
    """

    #: (label, network, param key) of the networks :meth:`resume_training` reloads from ``net_<label>_<iter>.pth``
    #: (those BasicSR's resume does not reload: e.g. the SKT model's SKAM heads and EMA teacher); set by a model's
    #: ``init_training_settings``.
    reload_on_resume: Sequence[Tuple[str, nn.Module, str]] = ()

    def place_network(self, net: nn.Module, trainable: bool = True) -> nn.Module:
        """Move ``net`` to the model's device; a network that is optimised is also wrapped for (Distributed)
        DataParallel by ``model_to_device``, a frozen one is not (DDP rejects modules without trainable
        parameters, and a frozen network needs no gradient synchronisation)."""
        return self.model_to_device(net) if trainable else net.to(self.device)

    def load_pretrained(self, label: str, net: nn.Module) -> None:
        """Load ``path.pretrain_network_<label>`` (honouring ``strict_load_<label>``, ``param_key_<label>``)."""
        load_path = self.opt['path'].get(f'pretrain_network_{label}')
        if load_path is not None:
            self.load_network(net, load_path, self.opt['path'].get(f'strict_load_{label}', True),
                              self.opt['path'].get(f'param_key_{label}', 'params'))

    def load_network(self, net: nn.Module, load_path: str, strict: bool = True, param_key: Optional[str] = 'params'):
        """Load weights saved by BasicSR (``params``/``params_ema``) or by official code (``state_dict``).

        A missing ``param_key`` falls back to the first known wrapper key; ``module.`` prefixes are removed.
        """
        if not osp.isfile(load_path):
            raise FileNotFoundError(f'Pretrained network file not found: {load_path}')
        verify_checkpoint(load_path, 'pretrained network')
        checkpoint = torch.load(load_path, map_location='cpu', weights_only=True)
        key = param_key if param_key in checkpoint else None
        state = unwrap_state_dict(checkpoint, key)
        bare = self.get_bare_model(net)
        get_root_logger().info(f'Loading {bare.__class__.__name__} from {load_path} [key: {key or "auto"}].')
        check_state_dict_fits(bare, state, strict, what=load_path)
        bare.load_state_dict(state, strict=strict)

    def get_optimizer(self, optim_type: str, params, lr: float, **kwargs) -> torch.optim.Optimizer:
        """Any optimiser of :data:`OPTIMIZERS` (BasicSR 1.4.2 only knows Adam)."""
        if optim_type not in OPTIMIZERS:
            raise NotImplementedError(f'Optimizer {optim_type!r} is not supported; choose one of {OPTIMIZERS}')
        return getattr(torch.optim, optim_type)(params, lr, **kwargs)

    def build_optimizer(self, optim_opt: Dict[str, Any], params) -> torch.optim.Optimizer:
        """The optimiser of an ``optim_<x>`` section (``type`` + its keyword arguments; the option is not modified),
        appended to ``self.optimizers`` (saved and resumed with the training state)."""
        optim_opt = dict(optim_opt)
        optimizer = self.get_optimizer(optim_opt.pop('type'), params, **optim_opt)
        self.optimizers.append(optimizer)
        return optimizer

    def save_network(self, net, net_label: str, current_iter: int, param_key='params') -> None:
        """BasicSR's ``save_network`` (bare models, ``module.`` stripped, CPU tensors), written atomically by rank 0."""
        if self.opt.get('rank', 0) != 0:
            return
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        if len(nets) != len(keys):
            raise ValueError(f'save_network: {len(nets)} networks but {len(keys)} param keys')
        state = {key: unwrap_state_dict({k: v.cpu() for k, v in self.get_bare_model(n).state_dict().items()})
                 for n, key in zip(nets, keys)}
        label = 'latest' if current_iter == -1 else current_iter
        atomic_save(state, osp.join(self.opt['path']['models'], f'{net_label}_{label}.pth'))

    def save_training_state(self, epoch: int, current_iter: int) -> None:
        """Optimisers, schedulers, the global RNGs and :meth:`extra_training_state`, written atomically, so that a
        resumed run continues exactly where this one was (the data order: :mod:`basicsr_skt.utils.resumable_sampler`).
        Rank 0 writes; under DDP the other ranks' generators are not saved (their draws differ after a resume)."""
        if current_iter == -1 or self.opt.get('rank', 0) != 0:
            return
        state = {
            'epoch': epoch,
            'iter': current_iter,
            'optimizers': [o.state_dict() for o in self.optimizers],
            'schedulers': [s.state_dict() for s in self.schedulers],
            'rng': capture_rng_state(),
            **self.extra_training_state(),
        }
        atomic_save(state, osp.join(self.opt['path']['training_states'], f'{current_iter}.state'))

    def extra_training_state(self) -> Dict[str, Any]:
        """Model-specific entries of the training state: the fp16 gradient scalers of the model's mixed-precision
        policy ``amp`` (``amp_scalers``, :class:`~basicsr_skt.utils.amp.MixedPrecision`; empty without
        ``train.amp: fp16``)."""
        amp = getattr(self, 'amp', None)
        return {'amp_scalers': amp.state_dict()} if amp is not None else {}

    def resume_training(self, resume_state: Dict[str, Any]) -> None:
        """Optimisers and schedulers (BasicSR), and the RNG states saved with them (older states have none).

        The training sampler restores them again right before the first sample of the resumed epoch, whose consumed
        batches it skips (:class:`~basicsr_skt.utils.resumable_sampler.ResumableSampler`, set up by the pipeline).
        Then the networks of :attr:`reload_on_resume`, from the resumed iteration's files (the stock pipeline may
        already have loaded some through ``path.pretrain_network_<x>``, set by BasicSR's ``check_resume``; they are
        reloaded for a model resumed without it).
        """
        super().resume_training(resume_state)
        rng_state = resume_state.get('rng')
        if rng_state is not None:
            restore_rng_state(rng_state)
        amp = getattr(self, 'amp', None)
        if amp is not None:  # the fp16 gradient scalers (absent from states saved before mixed precision)
            amp.load_state_dict(resume_state.get('amp_scalers'))
        for label, net, param_key in self.reload_on_resume:
            path = osp.join(self.opt['path']['models'], f'net_{label}_{resume_state["iter"]}.pth')
            self.load_network(net, path, strict=True, param_key=param_key)

    def synchronize(self) -> None:
        """Wait for queued GPU work (CUDA only; a no-op on the CPU)."""
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
