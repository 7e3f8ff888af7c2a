"""``SKTValidationMixin``: :class:`~basicsr_skt.models.skt_model.SKTModel`'s validation — the teacher beside the ORM.

When the validation batches carry priors (or the teacher uses none), the teacher is scored on the ORM's validation
output: ``teacher_<metric>`` (``teacher0_<metric>`` for the same teacher with its priors zeroed, with
``skt.val_teacher_zeroed_priors``) and, in EMA runs, ``live_<metric>`` for the live ORM the teacher refines. The ORM's
own inference never sees the priors.
"""
import contextlib
from collections import OrderedDict
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from basicsr.utils import get_root_logger
from basicsr_skt.models.hdr_validation import HDRValidationMixin
from basicsr_skt.utils.tiling import tiled_forward

#: Prefixes of the teacher's validation metrics: with its priors, and with its priors zeroed.
TEACHER_PREFIX, ZEROED_PREFIX = 'teacher_', 'teacher0_'
#: metrics of the live (non-EMA) ORM, the one the teacher is trained with and refines at validation (EMA runs only)
LIVE_PREFIX = 'live_'


@contextlib.contextmanager
def zeroed_priors(teacher: nn.Module) -> Iterator[nn.Module]:
    """Run SPGRM with its semantic input set to zeros (``use_semantics`` off) inside the block."""
    previous = teacher.use_semantics
    teacher.use_semantics = False
    try:
        yield teacher
    finally:
        teacher.use_semantics = previous


class SKTValidationMixin:
    """Teacher metrics, tables and tensorboard strips beside the ORM's (put before :class:`HDRModel` in the bases).

    Uses the SKT model's ``skt`` options, ``net_t`` / ``net_t_ema``, ``net_g`` / ``net_g_ema``, ``teacher_frames`` and the
    batch's ``skb_embedding`` / ``skb_labels``; ``skt.val_teacher`` (true) switches it on.
    """

    def validation_teacher(self) -> Optional[nn.Module]:
        """The teacher validated beside the ORM (the EMA teacher when there is one), or None when off / absent."""
        if not self.skt.val_teacher or not hasattr(self, 'net_t'):
            return None
        return self.net_t_ema if hasattr(self, 'net_t_ema') else self.get_bare_model(self.net_t)

    def test(self) -> None:
        """The ORM's prediction (:class:`HDRModel`), then the teacher's when the batch allows
        (``self.teacher_outputs``: prefix -> (B, 3, H, W)).

        The teacher refines the output of the ORM it is trained with: the live weights ``net_g``. With
        ``train.ema_decay`` the validated ORM is the EMA copy, whose output the teacher never saw in training (and which
        lags far behind in short runs), so the live ORM's output is scored too, as ``live_<metric>``: the teacher's
        held-out gap is ``teacher_<metric>`` − ``live_<metric>``.
        """
        super().test()
        self.teacher_outputs: Dict[str, torch.Tensor] = OrderedDict()
        teacher = self.validation_teacher()
        if teacher is None:
            return
        semantic = bool(getattr(teacher, 'use_semantics', False))
        if semantic and (getattr(self, 'skb_embedding', None) is None or getattr(self, 'skb_labels', None) is None):
            return
        orm_output = self.output
        if hasattr(self, 'net_g_ema'):
            live = self.get_bare_model(self.net_g)
            was_training = live.training
            live.eval()
            with torch.no_grad():
                orm_output = self.infer(live, self.lq)
            live.train(was_training)
            self.teacher_outputs[LIVE_PREFIX] = orm_output
        was_training = teacher.training
        teacher.eval()
        try:
            with torch.no_grad():
                self.teacher_outputs[TEACHER_PREFIX] = self.infer_teacher(teacher, orm_output)
                if semantic and self.skt.val_teacher_zeroed_priors:
                    with zeroed_priors(teacher):
                        self.teacher_outputs[ZEROED_PREFIX] = self.infer_teacher(teacher, orm_output)
        finally:
            teacher.train(was_training)

    def infer_teacher(self, teacher: nn.Module, orm_output: torch.Tensor) -> torch.Tensor:
        """f_S on a whole validation image, or on overlapping tiles with ``val.tile`` (as the ORM).

        The inputs (f_O, frames, embedding, labels as floats) are packed into one (B, 1, C, H, W) tensor so that
        :func:`~basicsr_skt.utils.tiling.tiled_forward` cuts them identically.
        """
        frames = self.teacher_frames(self.lq)
        semantic = bool(getattr(teacher, 'use_semantics', False))
        parts = [orm_output, frames.to(orm_output.dtype)]
        if semantic:
            embedding = self.skb_embedding.to(orm_output.dtype)
            if embedding.shape[-2:] != orm_output.shape[-2:]:
                embedding = nn.functional.interpolate(
                    embedding, size=orm_output.shape[-2:], mode='bilinear', align_corners=False)
            parts += [embedding, self.skb_labels.reshape(orm_output.shape[0], 1, *orm_output.shape[-2:]).float()]
        splits = [p.shape[1] for p in parts]

        def run(packed: torch.Tensor) -> torch.Tensor:
            pieces = packed[:, 0].split(splits, dim=1)
            embedding, labels = (pieces[2], pieces[3][:, 0].round().long()) if semantic else (None, None)
            return teacher(pieces[0], pieces[1], embedding, labels)['output']

        packed = torch.cat(parts, dim=1)[:, None]
        if self.val_options.tile is None:
            return run(packed)
        return tiled_forward(run, packed, self.val_options.tile, self.val_options.tile_overlap)

    def teacher_arrays(self) -> Dict[str, np.ndarray]:
        """First batch item of every output scored beside the ORM's (live ORM, teacher, teacher with zeroed priors),
        float32 H×W×3 BGR, by metric prefix."""
        return OrderedDict((prefix, out[0].detach().float().cpu().permute(1, 2, 0).numpy())
                           for prefix, out in (getattr(self, 'teacher_outputs', None) or {}).items())

    def compute_metrics(self, pred: np.ndarray, gt: np.ndarray, metric_opts: Dict[str, Any]) -> Dict[str, float]:
        """The ORM's metrics, then ``teacher_<name>`` (and ``teacher0_<name>``) for the teacher's outputs."""
        values = super().compute_metrics(pred, gt, metric_opts)
        for prefix, array in self.teacher_arrays().items():
            for name, value in super().compute_metrics(array, gt, metric_opts).items():
                values[f'{prefix}{name}'] = value
        return values

    def _update_best_metric_result(self, dataset_name: str, metric: str, val: float, current_iter: int) -> None:
        """BasicSR's, with records created on the fly for the teacher's metrics (same ``better`` as the ORM's)."""
        record = self.best_metric_results[dataset_name]
        if metric not in record:
            prefixed = metric.startswith((TEACHER_PREFIX, ZEROED_PREFIX, LIVE_PREFIX))
            base = metric.split('_', 1)[1] if prefixed else metric
            better = (self.opt['val'].get('metrics') or {}).get(base, {}).get('better', 'higher')
            record[metric] = dict(better=better, val=float('-inf') if better == 'higher' else float('inf'), iter=-1)
        super()._update_best_metric_result(dataset_name, metric, val, current_iter)

    @staticmethod
    def average_metrics(scene_metrics: Dict[str, Dict[str, float]]) -> 'OrderedDict[str, float]':
        """:class:`HDRValidationMixin`'s means (NaN values left out), over the scenes that have each metric (the
        teacher's need priors, which a scene may lack); the ORM's metrics first, then the teacher's."""
        names: List[str] = []
        for values in scene_metrics.values():
            names += [name for name in values if name not in names]
        if any(len(values) != len(names) for values in scene_metrics.values()):
            get_root_logger().warning(
                'Teacher metrics are missing for some validation scenes (no priors?): their means '
                'run over the scenes that have them')
        padded = {scene: {m: values.get(m, float('nan')) for m in names} for scene, values in scene_metrics.items()}
        return HDRValidationMixin.average_metrics(padded)

    def table_rows(self) -> List[Tuple[str, Dict[str, float]]]:
        """:class:`HDRModel`'s rows, with NaN where a scene lacks a teacher metric."""
        rows = super().table_rows()
        columns = self.table_columns()
        return [(scene, {m: values.get(m, float('nan')) for m in columns}) for scene, values in rows]

    def extra_tb_images(self) -> List[np.ndarray]:
        """Tensorboard strip ORM | teacher (| teacher with zeroed priors) | GT."""
        return super().extra_tb_images() + list(self.teacher_arrays().values())

    def release_batch(self) -> None:
        super().release_batch()
        self.teacher_outputs = OrderedDict()
        self.skb_embedding = self.skb_labels = None
