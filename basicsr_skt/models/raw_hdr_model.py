"""``RawHDRModel`` / ``RawSKTModel``: :class:`HDRModel` / :class:`SKTModel` for packed RAW data (BracketIRE layout).

Training is unchanged (the ORM maps n frames of 8 channels to the 4-channel packed RAW, the losses compare it with
``gt = raw_gt / hdr_scale``). What differs is validation: every batch of ``BracketIRERawDataset`` carries the scene's
white balance ``wb`` (B, 4) and colour matrix ``ccm`` (B, 3, 3); :meth:`RawModelMixin.metric_inputs` passes them to the
metric functions (``calculate_raw_psnr`` etc., the BracketIRE protocol), and the visual outputs go through the display
pipeline (``basicsr_skt.utils.raw_pipeline``):

* ``save_visuals``: the packed prediction as ``<stem>_raw.npy`` (float32 (h, w, 4), exact) and the protocol's 16-bit
  μ-law sRGB rendering ``<stem>_mu16.png`` (full resolution, BGR file order as OpenCV writes it).
* figures and tensorboard images: linear sRGB renderings (then μ-law, as for sRGB data); LDR frames as sRGB-gamma
  renderings of the normalised frames.
"""
import os
import os.path as osp
from typing import Any, Dict, List, Optional

import cv2
import numpy as np

from basicsr.utils.registry import MODEL_REGISTRY
from basicsr_skt.models.hdr_model import HDRModel
from basicsr_skt.models.skt_model import SKTModel
from basicsr_skt.utils.raw_pipeline import raw_to_display, raw_to_linear_srgb, srgb_gamma


class RawModelMixin:
    """RAW validation steps shared by :class:`RawHDRModel` and :class:`RawSKTModel` (put first in the bases)."""

    raw_wb: Optional[np.ndarray] = None
    raw_ccm: Optional[np.ndarray] = None

    def feed_data(self, data: Dict[str, Any]) -> None:
        """Also keep the first item's ``wb`` (4,) and ``ccm`` (3, 3) (validation runs one scene per batch)."""
        super().feed_data(data)
        if 'wb' in data and 'ccm' in data:
            self.raw_wb = data['wb'][0].detach().cpu().numpy().astype(np.float32)
            self.raw_ccm = data['ccm'][0].detach().cpu().numpy().astype(np.float32)

    def metric_inputs(self, pred: np.ndarray, gt: np.ndarray) -> Dict[str, Any]:
        """``img``, ``img2`` (packed (h, w, 4)) plus the scene's ``wb`` and ``ccm`` for the RAW protocol metrics."""
        return dict(img=pred, img2=gt, wb=self.raw_wb, ccm=self.raw_ccm)

    def _require_colour(self) -> None:
        if self.raw_wb is None or self.raw_ccm is None:
            raise ValueError('RAW validation needs the batches\' wb and ccm (use BracketIRERawDataset)')

    def linear_bgr(self, packed: np.ndarray) -> np.ndarray:
        """Packed RAW (h, w, 4) -> clipped linear sRGB, BGR, full resolution (2h, 2w, 3) float32."""
        self._require_colour()
        return np.ascontiguousarray(raw_to_linear_srgb(packed, self.raw_wb, self.raw_ccm)[..., ::-1])

    def current_ldrs(self) -> List[np.ndarray]:
        """The frames (the normalised half ``x`` of each 8-channel frame) as sRGB-gamma renderings, BGR, in [0, 1]."""
        frames = [frame[4:8].detach().float().cpu().permute(1, 2, 0).numpy() for frame in self.lq[0]]
        return [np.ascontiguousarray(srgb_gamma(self.linear_bgr(frame))) for frame in frames]

    def save_visuals(self, scene: str, pred: np.ndarray, current_iter: int, dataset_name: str) -> None:
        """``<stem>_raw.npy`` (float32 packed prediction) and ``<stem>_mu16.png`` (16-bit μ-law sRGB, protocol)."""
        self._require_colour()
        stem = self.visual_path(scene, current_iter, dataset_name)
        os.makedirs(osp.dirname(stem), exist_ok=True)
        np.save(f'{stem}_raw.npy', np.ascontiguousarray(pred, np.float32))
        display = raw_to_display(pred, self.raw_wb, self.raw_ccm, 'mu_law', self.val_options.mu, 16)
        if not cv2.imwrite(f'{stem}_mu16.png', np.round(display[..., ::-1] * 65535).astype(np.uint16)):
            raise OSError(f'Cannot write {stem}_mu16.png')

    def save_figure(self, scene, ldrs, pred, gt, current_iter, dataset_name) -> str:
        """The comparison figure of linear sRGB renderings (see :meth:`HDRModel.save_figure`)."""
        return super().save_figure(scene, ldrs, self.linear_bgr(pred), self.linear_bgr(gt), current_iter, dataset_name)

    def display_image(self, array: np.ndarray) -> np.ndarray:
        """Packed RAW (H/2 x W/2 x 4) -> linear BGR at full resolution (:meth:`linear_bgr`)."""
        return self.linear_bgr(array)


@MODEL_REGISTRY.register()
class RawHDRModel(RawModelMixin, HDRModel):
    """:class:`HDRModel` on packed RAW (BracketIRE): RAW protocol metrics and visuals (see the module docstring)."""


@MODEL_REGISTRY.register()
class RawSKTModel(RawModelMixin, SKTModel):
    """:class:`SKTModel` on packed RAW (BracketIRE): SPGRM needs ``img_channels: 4`` and ``ref_channels: 8``."""
