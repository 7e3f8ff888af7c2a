"""How validation scores, shows and saves a prediction: linear sRGB HDR, or packed RAW (BracketIRE layout).

The models keep one strategy object, ``display``, chosen by :func:`display_for` from the datasets' options (a
``BracketIRERawDataset`` gives :class:`RawDisplay`, anything else :class:`SRGBDisplay`); the validation loop
(:class:`~basicsr_skt.models.hdr_validation.HDRValidationMixin`) asks it for:

* ``take_batch(data)``: per-scene data of the batch (RAW: the first item's white balance ``wb`` (4,) and colour matrix
  ``ccm`` (3, 3); validation runs one scene per batch);
* ``metric_inputs(pred, gt)``: the keyword arguments of every metric function (RAW adds ``wb`` and ``ccm`` for the
  BracketIRE protocol metrics, ``calculate_raw_psnr`` etc.);
* ``ldr_frames(frames)``: the LDR frames as display images;
* ``display_image(array)``: a prediction-space array as a linear BGR image (figures, tensorboard);
* ``save_visuals(stem, pred, val)``: the files of ``val.save_img``.

Training is the same for both: the ORM maps n frames to the prediction and the losses compare it with ``gt`` (for
RAW: 8 channels per frame in, the 4-channel packed RAW ``raw_gt / hdr_scale`` out).
"""
import os
import os.path as osp
from typing import Any, Dict, List, Mapping, Optional, Union

import cv2
import numpy as np
import torch

from basicsr_skt.models.model_options import ValOptions
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.hdr_io import write_hdr
from basicsr_skt.utils.raw_pipeline import raw_to_display, raw_to_linear_srgb, srgb_gamma
from basicsr_skt.utils.tonemap import mu_law

#: Dataset types whose items are packed RAW with per-scene ``wb`` and ``ccm`` (:class:`RawDisplay`).
RAW_DATASET_TYPES = ('BracketIRERawDataset', )


class SRGBDisplay:
    """Predictions and GT are linear HDR images, BGR (H, W, 3); frames are ``concat(L ** γ / t, L)`` (6 channels)."""

    kind = 'srgb'

    def take_batch(self, data: Mapping[str, Any]) -> None:
        """Nothing per scene."""

    def metric_inputs(self, pred: np.ndarray, gt: np.ndarray) -> Dict[str, Any]:
        """``img`` and ``img2``."""
        return dict(img=pred, img2=gt)

    def ldr_frames(self, frames: torch.Tensor) -> List[np.ndarray]:
        """The ``L`` half (channels 3..5) of each (6, H, W) frame of ``frames`` (N, 6, H, W): float32 H×W×3 BGR."""
        return [frame[3:6].detach().float().cpu().permute(1, 2, 0).numpy() for frame in frames]

    def display_image(self, array: np.ndarray) -> np.ndarray:
        """The identity: an sRGB prediction already is a linear BGR image."""
        return array

    def save_visuals(self, stem: str, pred: np.ndarray, val: ValOptions) -> None:
        """``<stem>.hdr`` (linear, OpenCV RGBE; negative values clipped to 0), ``<stem>.exr`` with ``val.save_exr``
        (float32, unclipped) and ``<stem>_mu.png`` (μ-law tone-mapped, 8 bits, μ = ``val.mu``)."""
        write_hdr(f'{stem}.hdr', np.maximum(pred, 0))
        if val.save_exr:
            write_hdr(f'{stem}.exr', pred)
        tone_mapped = mu_law(np.clip(pred, 0, 1), val.mu)
        cv2.imwrite(f'{stem}_mu.png', np.round(tone_mapped * 255).astype(np.uint8))


class RawDisplay:
    """Predictions and GT are packed RAW (h, w, 4), rendered through the BracketIRE display pipeline
    (:mod:`basicsr_skt.utils.raw_pipeline`) with the scene's ``wb`` and ``ccm``; frames have 8 channels (the
    normalised half ``x`` is channels 4..7)."""

    kind = 'raw'

    def __init__(self) -> None:
        self.wb: Optional[np.ndarray] = None
        self.ccm: Optional[np.ndarray] = None

    def take_batch(self, data: Mapping[str, Any]) -> None:
        """Keep the first item's ``wb`` (4,) and ``ccm`` (3, 3) when the batch has them."""
        if 'wb' in data and 'ccm' in data:
            self.wb = data['wb'][0].detach().cpu().numpy().astype(np.float32)
            self.ccm = data['ccm'][0].detach().cpu().numpy().astype(np.float32)

    def require_colour(self) -> None:
        """Raise when no batch has given the colour metadata yet."""
        if self.wb is None or self.ccm is None:
            raise ValueError('RAW validation needs the batches\' wb and ccm (use BracketIRERawDataset)')

    def metric_inputs(self, pred: np.ndarray, gt: np.ndarray) -> Dict[str, Any]:
        """``img``, ``img2`` (packed (h, w, 4)) plus the scene's ``wb`` and ``ccm`` for the RAW protocol metrics."""
        return dict(img=pred, img2=gt, wb=self.wb, ccm=self.ccm)

    def display_image(self, packed: np.ndarray) -> np.ndarray:
        """Packed RAW (h, w, 4) -> clipped linear sRGB, BGR, full resolution (2h, 2w, 3) float32."""
        self.require_colour()
        return np.ascontiguousarray(raw_to_linear_srgb(packed, self.wb, self.ccm)[..., ::-1])

    def ldr_frames(self, frames: torch.Tensor) -> List[np.ndarray]:
        """The frames (the normalised half ``x`` of each 8-channel frame) as sRGB-gamma renderings, BGR, in [0, 1]."""
        arrays = [frame[4:8].detach().float().cpu().permute(1, 2, 0).numpy() for frame in frames]
        return [np.ascontiguousarray(srgb_gamma(self.display_image(array))) for array in arrays]

    def save_visuals(self, stem: str, pred: np.ndarray, val: ValOptions) -> None:
        """``<stem>_raw.npy`` (float32 packed prediction, exact) and ``<stem>_mu16.png`` (the protocol's 16-bit μ-law
        sRGB rendering at full resolution, μ = ``val.mu``, BGR file order as OpenCV writes it)."""
        self.require_colour()
        os.makedirs(osp.dirname(stem), exist_ok=True)
        np.save(f'{stem}_raw.npy', np.ascontiguousarray(pred, np.float32))
        display = raw_to_display(pred, self.wb, self.ccm, 'mu_law', val.mu, 16)
        if not cv2.imwrite(f'{stem}_mu16.png', np.round(display[..., ::-1] * 65535).astype(np.uint16)):
            raise OSError(f'Cannot write {stem}_mu16.png')


Display = Union[SRGBDisplay, RawDisplay]


def display_for(opt: Mapping[str, Any]) -> Display:
    """The display strategy of a run: :class:`RawDisplay` when its datasets are packed RAW (:data:`RAW_DATASET_TYPES`),
    else :class:`SRGBDisplay`.

    Args:
        opt: The run's options (``datasets.<phase>.type`` is read; not modified).

    Raises:
        UserInputError: The datasets mix packed RAW and sRGB (one ORM predicts one of them).
    """
    types = {phase: dataset.get('type') for phase, dataset in (opt.get('datasets') or {}).items()
             if isinstance(dataset, Mapping)}
    raw = sorted(phase for phase, kind in types.items() if kind in RAW_DATASET_TYPES)
    if raw and len(raw) != len(types):
        other = sorted(set(types) - set(raw))
        raise UserInputError(f'datasets {raw} are packed RAW ({", ".join(RAW_DATASET_TYPES)}) but datasets {other} '
                             'are not: one model predicts one kind of image, so use RAW datasets for every phase '
                             '(or none)')
    return RawDisplay() if raw else SRGBDisplay()
