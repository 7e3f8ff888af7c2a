"""``TeacherValidation``: the SKT teacher scored beside the ORM at validation (a side predictor of the SKT model).

When the validation batches carry priors (or the teacher uses none), the teacher is scored on the ORM's validation
output: ``teacher_<metric>`` (``teacher0_<metric>`` for the same teacher with its priors zeroed, with
``skt.val_teacher_zeroed_priors``) and, in EMA runs, ``live_<metric>`` for the live ORM the teacher refines. The ORM's
own inference never sees the priors. The teacher runs through the one inference path,
:func:`~basicsr_skt.inference.orm.run_orm`, with the ORM's ``val.pad_multiple``, ``val.tile`` and
``val.tile_overlap``.
"""
from collections import OrderedDict
from typing import Any, Optional

import torch
from torch import nn

from basicsr_skt.inference.orm import run_orm
from basicsr_skt.inference.teacher import priors_off

#: Prefixes of the teacher's validation metrics: with its priors, and with its priors zeroed.
TEACHER_PREFIX, ZEROED_PREFIX = 'teacher_', 'teacher0_'
#: metrics of the live (non-EMA) ORM, the one the teacher is trained with and refines at validation (EMA runs only)
LIVE_PREFIX = 'live_'


class TeacherValidation:
    """Side predictor of :class:`~basicsr_skt.models.skt_model.SKTModel`: calling it after the ORM's prediction
    returns the outputs scored beside it (prefix -> (B, C, H, W)); empty when ``skt.val_teacher`` is off or the batch
    lacks the priors a semantic teacher needs.

    Args:
        model: The SKT model; read at each call: its ``skt`` and ``val_options``, ``net_t`` / ``net_t_ema``,
            ``net_g`` / ``net_g_ema``, ``infer``, ``teacher_frames``, the batch's ``lq``, ``output``,
            ``skb_embedding`` and ``skb_labels``.
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def validation_teacher(self) -> Optional[nn.Module]:
        """The teacher validated beside the ORM (the EMA teacher when there is one), or None when off / absent."""
        model = self.model
        if not model.skt.val_teacher or not hasattr(model, 'net_t'):
            return None
        return model.net_t_ema if hasattr(model, 'net_t_ema') else model.get_bare_model(model.net_t)

    def __call__(self) -> 'OrderedDict[str, torch.Tensor]':
        """The teacher's prediction on the ORM's output of the fed batch (and the live ORM's, with an EMA ORM).

        The teacher refines the output of the ORM it is trained with: the live weights ``net_g``. With
        ``train.ema_decay`` the validated ORM is the EMA copy, whose output the teacher never saw in training (and which
        lags far behind in short runs), so the live ORM's output is scored too, as ``live_<metric>``: the teacher's
        held-out gap is ``teacher_<metric>`` − ``live_<metric>``.
        """
        model = self.model
        outputs: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
        teacher = self.validation_teacher()
        if teacher is None:
            return outputs
        semantic = bool(getattr(teacher, 'use_semantics', False))
        if semantic and (getattr(model, 'skb_embedding', None) is None or getattr(model, 'skb_labels', None) is None):
            return outputs
        orm_output = model.output
        if hasattr(model, 'net_g_ema'):
            live = model.get_bare_model(model.net_g)
            was_training = live.training
            live.eval()
            with torch.no_grad():
                orm_output = model.infer(live, model.lq)
            live.train(was_training)
            outputs[LIVE_PREFIX] = orm_output
        was_training = teacher.training
        teacher.eval()
        try:
            with torch.no_grad():
                outputs[TEACHER_PREFIX] = self.infer_teacher(teacher, orm_output)
                if semantic and model.skt.val_teacher_zeroed_priors:
                    with priors_off(teacher):
                        outputs[ZEROED_PREFIX] = self.infer_teacher(teacher, orm_output)
        finally:
            teacher.train(was_training)
        return outputs

    def infer_teacher(self, teacher: nn.Module, orm_output: torch.Tensor) -> torch.Tensor:
        """f_S on a whole validation image, through :func:`~basicsr_skt.inference.orm.run_orm` as the ORM: reflect-
        padded to ``val.pad_multiple`` (and cropped back), or on overlapping tiles with ``val.tile``.

        The inputs (f_O, frames, embedding resized to the image, labels as floats) are packed into one
        (B, 1, C, H, W) "frame" so that padding and tiles cut them identically; inside, the labels are rounded back.

        Args:
            teacher: SPGRM in eval mode (called under ``torch.no_grad()``).
            orm_output: f_O, (B, C_out, H, W).

        Returns:
            f_S, (B, C_out, H, W).
        """
        model = self.model
        frames = model.teacher_frames(model.lq)
        semantic = bool(getattr(teacher, 'use_semantics', False))
        parts = [orm_output, frames.to(orm_output.dtype)]
        if semantic:
            embedding = model.skb_embedding.to(orm_output.dtype)
            if embedding.shape[-2:] != orm_output.shape[-2:]:
                embedding = nn.functional.interpolate(
                    embedding, size=orm_output.shape[-2:], mode='bilinear', align_corners=False)
            parts += [embedding, model.skb_labels.reshape(orm_output.shape[0], 1, *orm_output.shape[-2:]).float()]
        splits = [p.shape[1] for p in parts]

        def run(packed: torch.Tensor) -> torch.Tensor:  # one (B, C, h, w) "frame": the parts, cut alike
            pieces = packed.split(splits, dim=1)
            embedding, labels = (pieces[2], pieces[3][:, 0].round().long()) if semantic else (None, None)
            return teacher(pieces[0], pieces[1], embedding, labels)['output']

        val = model.val_options
        return run_orm(run, torch.cat(parts, dim=1)[:, None], val.pad_multiple, val.tile, val.tile_overlap,
                       out_channels=None)
