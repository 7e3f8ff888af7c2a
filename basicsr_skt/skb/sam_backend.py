"""Segment Anything backend of the SKB: SAM's image-encoder embedding plus its automatic-mask-generator labels.

Checkpoints are user-supplied local files (:data:`SAM_CHECKPOINTS`), never downloaded; ``segment_anything`` is
imported only when a backend or model is built.
"""
from os import path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from basicsr_skt.skb.extractors import Device, SemanticBackend, check_fraction, check_rgb_image, to_float16
from basicsr_skt.skb.labels import masks_to_labels
from basicsr_skt.utils.file_checks import verify_checkpoint

SAM_CHECKPOINTS = {
    'vit_b': 'sam_vit_b_01ec64.pth',
    'vit_l': 'sam_vit_l_0b3195.pth',
    'vit_h': 'sam_vit_h_4b8939.pth',
}
SAM_CHECKPOINT_SOURCE = ('the "Model Checkpoints" section of the official repository '
                         'https://github.com/facebookresearch/segment-anything')


def resolve_sam_checkpoint(checkpoint: Optional[str], sam_type: str) -> str:
    """Check that a SAM checkpoint file exists; never downloads.

    Args:
        checkpoint: Path of the checkpoint file (``~`` expanded), or None.
        sam_type: ``'vit_b'``, ``'vit_l'`` or ``'vit_h'``.

    Returns:
        The expanded path.

    Raises:
        FileNotFoundError: No path given or no such file; the message names the file, the official checkpoint file
            names and where to get them.
    """
    names = ', '.join(f'{key}: {value}' for key, value in SAM_CHECKPOINTS.items())
    hint = (f'The official Segment Anything checkpoints are {names}; download the one for sam_type={sam_type!r} '
            f'({SAM_CHECKPOINTS.get(sam_type, "?")}) yourself from {SAM_CHECKPOINT_SOURCE} and pass its path. '
            'Nothing is downloaded automatically.')
    if checkpoint is None:
        raise FileNotFoundError(f'No SAM checkpoint given. {hint}')
    path = osp.expanduser(str(checkpoint))
    if not osp.isfile(path):
        raise FileNotFoundError(f'SAM checkpoint not found: {path}. {hint}')
    return path


def build_sam_model(sam_type: str, checkpoint: Optional[str]) -> nn.Module:
    """Build SAM with ``segment_anything.sam_model_registry`` and load a local checkpoint on the CPU.

    Raises:
        ValueError: Unknown ``sam_type`` or a checkpoint that does not fit the architecture.
        FileNotFoundError: See :func:`resolve_sam_checkpoint` (checked before anything is built).
    """
    if sam_type not in SAM_CHECKPOINTS:
        raise ValueError(f'Unknown sam_type {sam_type!r}; expected one of {list(SAM_CHECKPOINTS)}')
    path = resolve_sam_checkpoint(checkpoint, sam_type)
    from segment_anything import sam_model_registry

    model = sam_model_registry[sam_type](checkpoint=None)
    verify_checkpoint(path, 'SAM checkpoint')
    state = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(state, dict) and isinstance(state.get('model'), dict):
        state = state['model']
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f'{path} does not fit SAM {sam_type} (expected {SAM_CHECKPOINTS[sam_type]} or a '
                         f'checkpoint of the same architecture): {err}') from err
    return model


class SamBackend(SemanticBackend):
    """Segment Anything: image-encoder embedding + automatic-mask-generator label map.

    The embedding is SAM's own (``SamPredictor``: ``ResizeLongestSide`` to the encoder size, 1024, normalisation,
    zero padding to a square): 256 x 64 x 64 for the official models, cell size ``16 / s`` with
    ``s = 1024 / max(H, W)`` in both axes (patch size / scale in general; SAM's rounding of the short side makes
    this exact to within half a pixel there). Labels come from ``SamAutomaticMaskGenerator`` (one crop layer, the
    whole image) flattened by :func:`basicsr_skt.skb.labels.masks_to_labels`: masks painted largest first, so smaller
    masks on top stay visible; uncovered pixels and visible parts under ``min_area`` pixels are background.

    Args:
        sam_type: ``'vit_b'``, ``'vit_l'`` or ``'vit_h'`` (names the backend ``sam_<type>`` in the meta).
        checkpoint: Local official checkpoint (``sam_vit_b_01ec64.pth``, ``sam_vit_l_0b3195.pth``,
            ``sam_vit_h_4b8939.pth``) or any state dict of the same architecture. Ignored when ``model`` is given.
        device: Where SAM runs (``'cpu'``, ``'cuda'``, ...).
        points_per_side: Point grid of the mask generator (32 x 32 points as SMHDR).
        pred_iou_thresh: Keep masks whose predicted IoU exceeds this (0.90 as SMHDR).
        stability_score_thresh: Keep masks at least this stable (0.92 as SMHDR).
        min_area: Segments under this many pixels merge into background 0 (1000 as SMHDR).
        points_per_batch: Points decoded together (memory vs speed).
        model: An already built ``segment_anything.modeling.Sam`` (e.g. a small one for tests); ``sam_type`` then
            only names the backend.
        min_area_fraction: Replaces ``min_area`` per image by this share of the image area (None: ``min_area``).

    Raises:
        FileNotFoundError: No ``model`` and the checkpoint is missing (message: file, official names, source).
        ValueError: Unknown ``sam_type`` or a checkpoint that does not fit.
    """

    def __init__(self,
                 sam_type: str = 'vit_b',
                 checkpoint: Optional[str] = None,
                 device: Device = 'cpu',
                 points_per_side: int = 32,
                 pred_iou_thresh: float = 0.90,
                 stability_score_thresh: float = 0.92,
                 min_area: int = 1000,
                 points_per_batch: int = 64,
                 model: Optional[nn.Module] = None,
                 min_area_fraction: Optional[float] = None):
        if sam_type not in SAM_CHECKPOINTS:
            raise ValueError(f'Unknown sam_type {sam_type!r}; expected one of {list(SAM_CHECKPOINTS)}')
        if model is None:
            model = build_sam_model(sam_type, checkpoint)
            self.checkpoint = osp.basename(checkpoint)
        else:
            self.checkpoint = None
        from segment_anything import SamAutomaticMaskGenerator, SamPredictor

        self.name = f'sam_{sam_type}'
        self.sam_type = sam_type
        self.model = model.to(device).eval()
        self.points_per_side = int(points_per_side)
        self.pred_iou_thresh = float(pred_iou_thresh)
        self.stability_score_thresh = float(stability_score_thresh)
        self.min_area = int(min_area)
        self.min_area_fraction = check_fraction(min_area_fraction)
        self.predictor = SamPredictor(self.model)
        self.generator = SamAutomaticMaskGenerator(
            self.model,
            points_per_side=self.points_per_side,
            points_per_batch=int(points_per_batch),
            pred_iou_thresh=self.pred_iou_thresh,
            stability_score_thresh=self.stability_score_thresh,
            crop_n_layers=0,
            output_mode='binary_mask')

    @property
    def encoder_img_size(self) -> int:
        """Side of SAM's square encoder input (1024 for the official models)."""
        return int(self.model.image_encoder.img_size)

    @property
    def patch_size(self) -> int:
        """Pixels of the encoder input per embedding cell (16 for the official models)."""
        return int(self.model.image_encoder.patch_embed.proj.kernel_size[0])

    def settings(self) -> Dict[str, Any]:
        return {
            'sam_type': self.sam_type,
            'checkpoint': self.checkpoint,
            'points_per_side': self.points_per_side,
            'pred_iou_thresh': self.pred_iou_thresh,
            'stability_score_thresh': self.stability_score_thresh,
            'min_area': self.min_area,
            'min_area_fraction': self.min_area_fraction,
            'encoder_img_size': self.encoder_img_size,
            'patch_size': self.patch_size,
        }

    def _geometry(self, height: int, width: int) -> Tuple[Tuple[float, float], Dict[str, Any]]:
        """Cell size and meta entries for an image of ``height`` x ``width`` (SAM's resize + pad)."""
        from segment_anything.utils.transforms import ResizeLongestSide

        scale = self.encoder_img_size / max(height, width)
        cell = self.patch_size / scale
        input_size = ResizeLongestSide.get_preprocess_shape(height, width, self.encoder_img_size)
        return (cell, cell), {'scale': scale, 'input_size': [int(v) for v in input_size]}

    @torch.no_grad()
    def _embed(self, image: np.ndarray) -> Tuple[np.ndarray, Tuple[float, float], Dict[str, Any]]:
        self.predictor.set_image(image, image_format='RGB')
        features = self.predictor.get_image_embedding()[0]
        self.predictor.reset_image()
        cell, geometry = self._geometry(*image.shape[:2])
        return to_float16(features, self.name), cell, geometry

    def _masks(self, image: np.ndarray) -> List[np.ndarray]:
        return [record['segmentation'] for record in self.generator.generate(image)]

    def _segment(self, image: np.ndarray) -> np.ndarray:
        return masks_to_labels(self._masks(image), image.shape[:2], self.min_area_for(image.shape[:2]))

    @torch.no_grad()
    def extract(self, image_rgb: np.ndarray) -> Dict[str, Any]:
        """Like :meth:`SemanticBackend.extract`, with one image-encoder pass: the embedding is read (forward hook)
        from the mask generator's own encoding of the whole image, the same computation :meth:`embed` does."""
        image = check_rgb_image(image_rgb)
        captured: List[torch.Tensor] = []
        handle = self.model.image_encoder.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
        try:
            masks = self._masks(image)
        finally:
            handle.remove()
        if len(captured) != 1:
            raise RuntimeError(f'Expected one image-encoder pass in mask generation, got {len(captured)}')
        cell, geometry = self._geometry(*image.shape[:2])
        embedding = to_float16(captured[0][0], self.name)
        labels = masks_to_labels(masks, image.shape[:2], self.min_area_for(image.shape[:2]))
        return self._result(image, embedding, cell, geometry, labels)
