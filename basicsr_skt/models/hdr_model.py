"""``HDRModel``: trains and validates any multi-exposure HDR network (the ORM) with BasicSR's trainer."""
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from basicsr.archs import build_network
from basicsr.losses import build_loss
from basicsr.metrics import calculate_metric
from basicsr.models.base_model import BaseModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY
from basicsr_skt.utils.checkpoint import atomic_save, unwrap_state_dict
from basicsr_skt.utils.hdr_io import write_hdr
from basicsr_skt.utils.padding import crop_to, pad_to_multiple
from basicsr_skt.utils.rng import capture_rng_state, restore_rng_state
from basicsr_skt.utils.tonemap import mu_law

#: Optimisers selectable with ``train.optim_g.type`` (basicsr 1.4.2 itself only knows Adam).
OPTIMIZERS = ('Adam', 'AdamW', 'Adamax', 'SGD', 'ASGD', 'RMSprop', 'Rprop')
#: Loss sections of ``train`` and the log name of each term.
LOSS_SECTIONS = (('pixel_opt', 'l_pix'), ('perceptual_opt', 'l_percep'))


def forward_frames(net: nn.Module, lq: torch.Tensor) -> torch.Tensor:
    """Run an ORM on stacked frames.

    Args:
        net: HDR network whose ``forward`` takes one (B, C, H, W) tensor per frame (reference = middle).
        lq: (B, N, C, H, W) frames, C = 6 for [L**γ/t, L] in BGR order.

    Returns:
        (B, 3, H, W) linear HDR prediction, BGR, typically in [0, 1].
    """
    return net(*lq.unbind(dim=1))


@MODEL_REGISTRY.register()
class HDRModel(BaseModel):
    """Multi-exposure HDR reconstruction model (ORM ``network_g``), float validation, HDR outputs.

    Validation is split into small steps that subclasses override: :meth:`infer` (padding), :meth:`compute_metrics`,
    :meth:`save_visuals`, :meth:`log_tb_images`. Metrics are computed on float HDR arrays, never on 8-bit images.
    """

    def __init__(self, opt: Dict[str, Any]):
        super().__init__(opt)
        self.net_g = self.model_to_device(build_network(opt['network_g']))
        self.print_network(self.net_g)
        self.load_pretrained('g', self.net_g)
        if self.is_train:
            self.init_training_settings()

    # ------------------------------------------------------------------------------------------------------------
    # Set-up
    # ------------------------------------------------------------------------------------------------------------
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
        checkpoint = torch.load(load_path, map_location='cpu', weights_only=False)
        key = param_key if param_key in checkpoint else None
        state = unwrap_state_dict(checkpoint, key)
        bare = self.get_bare_model(net)
        get_root_logger().info(f'Loading {bare.__class__.__name__} from {load_path} [key: {key or "auto"}].')
        self._print_different_keys_loading(bare, state, strict)
        bare.load_state_dict(state, strict=strict)

    def init_training_settings(self) -> None:
        self.net_g.train()
        train_opt = self.opt['train']
        self.ema_decay = train_opt.get('ema_decay', 0)
        if self.ema_decay > 0:
            self.net_g_ema = build_network(self.opt['network_g']).to(self.device)
            if self.opt['path'].get('pretrain_network_g') is not None:
                self.load_pretrained('g', self.net_g_ema)
            else:
                self.model_ema(0)
            self.net_g_ema.eval()
        self.rec_losses = self.build_losses(train_opt)
        if not self.rec_losses:
            raise ValueError(f'train: no loss configured; set one of {[s for s, _ in LOSS_SECTIONS]}')
        self.setup_optimizers()
        self.setup_schedulers()

    def build_losses(self, train_opt: Dict[str, Any]) -> 'OrderedDict[str, nn.Module]':
        """Reconstruction losses from ``train.pixel_opt`` / ``train.perceptual_opt``, keyed by log name."""
        return OrderedDict((log_name, build_loss(train_opt[section]).to(self.device))
                           for section, log_name in LOSS_SECTIONS if train_opt.get(section))

    def setup_optimizers(self) -> None:
        optim_opt = dict(self.opt['train']['optim_g'])
        params = [p for p in self.net_g.parameters() if p.requires_grad]
        self.optimizer_g = self.get_optimizer(optim_opt.pop('type'), params, **optim_opt)
        self.optimizers.append(self.optimizer_g)

    def get_optimizer(self, optim_type: str, params, lr: float, **kwargs) -> torch.optim.Optimizer:
        """Any optimiser of :data:`OPTIMIZERS` (BasicSR 1.4.2 only knows Adam)."""
        if optim_type not in OPTIMIZERS:
            raise NotImplementedError(f'Optimizer {optim_type!r} is not supported; choose one of {OPTIMIZERS}')
        return getattr(torch.optim, optim_type)(params, lr, **kwargs)

    # ------------------------------------------------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------------------------------------------------
    def feed_data(self, data: Dict[str, Any]) -> None:
        """Take a batch: ``lq`` (B, N, 6, H, W) frames and, when present, ``gt`` (B, 3, H, W) linear HDR."""
        self.lq = data['lq'].to(self.device)
        if 'gt' in data:
            self.gt = data['gt'].to(self.device)

    def reconstruction_loss(self, output: torch.Tensor, gt: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, Any]]:
        """L_rec = Σ configured losses(output, gt); returns the total and each logged term."""
        terms = OrderedDict((name, loss(output, gt)) for name, loss in self.rec_losses.items())
        return sum(terms.values()), terms

    def optimize_parameters(self, current_iter: int) -> None:
        self.optimizer_g.zero_grad()
        self.output = forward_frames(self.net_g, self.lq)
        l_rec, terms = self.reconstruction_loss(self.output, self.gt)
        l_rec.backward()
        self.optimizer_g.step()
        self.log_dict = self.reduce_loss_dict(OrderedDict(l_rec=l_rec, **terms))
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def save(self, epoch: int, current_iter: int) -> None:
        if hasattr(self, 'net_g_ema'):
            self.save_network([self.net_g, self.net_g_ema], 'net_g', current_iter, param_key=['params', 'params_ema'])
        else:
            self.save_network(self.net_g, 'net_g', current_iter)
        self.save_training_state(epoch, current_iter)

    def save_network(self, net, net_label: str, current_iter: int, param_key='params') -> None:
        """BasicSR's ``save_network`` (bare models, ``module.`` stripped, CPU tensors), written atomically."""
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
        resumed run continues exactly where this one was (see ``basicsr_skt.compat`` for the data order)."""
        if current_iter == -1:
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
        """Model-specific entries of the training state (subclasses add theirs)."""
        return {}

    def resume_training(self, resume_state: Dict[str, Any]) -> None:
        """Optimisers and schedulers (BasicSR), then the RNG states saved with them (older states have none)."""
        super().resume_training(resume_state)
        if 'rng' in resume_state:
            restore_rng_state(resume_state['rng'])

    # ------------------------------------------------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------------------------------------------------
    def inference_network(self) -> nn.Module:
        return self.net_g_ema if hasattr(self, 'net_g_ema') else self.net_g

    def test(self) -> None:
        """Predict ``self.output`` for the fed frames in eval mode; the network's train mode is restored."""
        net = self.inference_network()
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                self.output = self.infer(net, self.lq)
        finally:
            net.train(was_training)

    def infer(self, net: nn.Module, lq: torch.Tensor) -> torch.Tensor:
        """Whole-image inference, reflect-padded to ``val.pad_multiple`` (default 1: the arch pads itself)."""
        multiple = (self.opt.get('val') or {}).get('pad_multiple', 1)
        if multiple <= 1:
            return forward_frames(net, lq)
        b, n, c, h, w = lq.shape
        padded, _ = pad_to_multiple(lq.reshape(b, n * c, h, w), multiple)
        output = forward_frames(net, padded.reshape(b, n, c, *padded.shape[-2:]))
        return crop_to(output, h, w)

    # ------------------------------------------------------------------------------------------------------------
    # Validation
    # ------------------------------------------------------------------------------------------------------------
    def dist_validation(self, dataloader, current_iter: int, tb_logger, save_img: bool) -> None:
        if self.opt['rank'] == 0:
            self.nondist_validation(dataloader, current_iter, tb_logger, save_img)

    def nondist_validation(self, dataloader, current_iter: int, tb_logger, save_img: bool) -> None:
        dataset_name = dataloader.dataset.opt['name']
        metric_opts = self.opt['val'].get('metrics') or {}
        if metric_opts:
            self._initialize_best_metric_results(dataset_name)
        self.scene_metrics: 'OrderedDict[str, Dict[str, float]]' = OrderedDict()
        num_tb_images = self.opt['val'].get('num_tb_images', 2)
        pbar = tqdm(total=len(dataloader), unit='scene') if self.opt['val'].get('pbar', False) else None
        for idx, val_data in enumerate(dataloader):
            scene = val_data['scene'][0]
            self.feed_data(val_data)
            self.test()
            pred, gt = self.current_arrays()
            if gt is not None and metric_opts:
                self.scene_metrics[scene] = self.compute_metrics(pred, gt, metric_opts)
            if save_img:
                self.save_visuals(scene, pred, current_iter, dataset_name)
            if tb_logger is not None and idx < num_tb_images:
                self.log_tb_images(tb_logger, scene, pred, gt, current_iter)
            self.release_batch()
            if pbar is not None:
                pbar.update(1)
                pbar.set_description(f'Val {scene}')
        if pbar is not None:
            pbar.close()
        if self.scene_metrics:
            self.metric_results = self.average_metrics(self.scene_metrics)
            for metric, value in self.metric_results.items():
                self._update_best_metric_result(dataset_name, metric, value, current_iter)
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)

    def current_arrays(self) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """First item of the batch as float32 H×W×3 BGR arrays (prediction, GT or None)."""

        def to_array(t: torch.Tensor) -> np.ndarray:
            return t[0].detach().float().cpu().permute(1, 2, 0).numpy()

        return to_array(self.output), (to_array(self.gt) if hasattr(self, 'gt') else None)

    def compute_metrics(self, pred: np.ndarray, gt: np.ndarray, metric_opts: Dict[str, Any]) -> Dict[str, float]:
        """Every configured metric on float HDR arrays (``val.metrics.<name>.type`` from METRIC_REGISTRY)."""
        return OrderedDict(
            (name, float(calculate_metric(dict(img=pred, img2=gt), opt_))) for name, opt_ in metric_opts.items())

    @staticmethod
    def average_metrics(scene_metrics: Dict[str, Dict[str, float]]) -> 'OrderedDict[str, float]':
        names = next(iter(scene_metrics.values())).keys()
        return OrderedDict((m, float(np.mean([v[m] for v in scene_metrics.values()]))) for m in names)

    def save_visuals(self, scene: str, pred: np.ndarray, current_iter: int, dataset_name: str) -> None:
        """Write the prediction as ``.hdr`` (linear, OpenCV RGBE) and a μ-law tone-mapped 8-bit PNG."""
        stem = self.visual_path(scene, current_iter, dataset_name)
        write_hdr(f'{stem}.hdr', pred)
        tone_mapped = mu_law(np.clip(pred, 0, 1), self.opt['val'].get('mu', 5000.0))
        cv2.imwrite(f'{stem}_mu.png', np.round(tone_mapped * 255).astype(np.uint8))

    def visual_path(self, scene: str, current_iter: int, dataset_name: str) -> str:
        """Path stem of a scene's saved outputs (BasicSR's layout: per scene in training, per dataset in test)."""
        root = self.opt['path']['visualization']
        if self.opt['is_train']:
            return osp.join(root, scene, f'{scene}_{current_iter}')
        suffix = self.opt['val'].get('suffix') or self.opt['name']
        return osp.join(root, dataset_name, f'{scene}_{suffix}')

    def log_tb_images(self, tb_logger, scene: str, pred: np.ndarray, gt: Optional[np.ndarray], current_iter: int):
        """μ-law prediction (and GT) to tensorboard, RGB, CHW in [0, 1]."""
        mu = self.opt['val'].get('mu', 5000.0)
        images = [pred] if gt is None else [pred, gt]
        strip = np.concatenate([mu_law(np.clip(img, 0, 1), mu) for img in images], axis=1)
        tb_logger.add_image(f'val/{scene}', strip[..., ::-1].transpose(2, 0, 1).copy(), current_iter)

    def release_batch(self) -> None:
        for name in ('lq', 'gt', 'output'):
            if hasattr(self, name):
                delattr(self, name)
        if self.device.type == 'cuda':
            torch.cuda.empty_cache()

    def _log_validation_metric_values(self, current_iter: int, dataset_name: str, tb_logger) -> None:
        """Log a per-scene table (Markdown) with the mean row and best values; scalars go to tensorboard."""
        table = self.metrics_table(dataset_name)
        get_root_logger().info(f'Validation {dataset_name} @ iter {current_iter}\n{table}')
        if not self.opt['is_train']:
            self.write_metrics_files(dataset_name, table)
        if tb_logger:
            for metric, value in self.metric_results.items():
                tb_logger.add_scalar(f'metrics/{dataset_name}/{metric}', value, current_iter)

    def write_metrics_files(self, dataset_name: str, table: str) -> None:
        """Test runs: ``<results_root>/<dataset>_metrics.{md,csv}`` with the per-scene values and the mean."""
        root = self.opt['path']['results_root']
        with open(osp.join(root, f'{dataset_name}_metrics.md'), 'w') as f:
            f.write(table + '\n')
        names = list(self.metric_results)
        with open(osp.join(root, f'{dataset_name}_metrics.csv'), 'w') as f:
            f.write(','.join(['scene'] + names) + '\n')
            for scene, values in list(self.scene_metrics.items()) + [('mean', self.metric_results)]:
                f.write(','.join([scene] + [f'{values[m]:.6f}' for m in names]) + '\n')

    def metrics_table(self, dataset_name: Optional[str] = None) -> str:
        """Markdown table: one row per scene, the mean, and (in training) the best mean so far with its iteration."""
        names = list(self.metric_results)
        lines = ['| scene | ' + ' | '.join(names) + ' |', '|---' * (len(names) + 1) + '|']
        rows: List[Tuple[str, Dict[str,
                                   float]]] = list(self.scene_metrics.items()) + [('**mean**', self.metric_results)]
        lines += [f'| {scene} | ' + ' | '.join(f'{values[m]:.4f}' for m in names) + ' |' for scene, values in rows]
        best = getattr(self, 'best_metric_results', {}).get(dataset_name) if self.opt['is_train'] else None
        if best:
            lines.append('| best (iter) | ' + ' | '.join(f'{best[m]["val"]:.4f} ({best[m]["iter"]})'
                                                         for m in names) + ' |')
        return '\n'.join(lines)

    def get_current_visuals(self) -> 'OrderedDict[str, torch.Tensor]':
        out = OrderedDict(lq=self.lq.detach().cpu(), result=self.output.detach().cpu())
        if hasattr(self, 'gt'):
            out['gt'] = self.gt.detach().cpu()
        return out
