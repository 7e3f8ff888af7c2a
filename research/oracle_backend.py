"""Oracle backend of the SKB, **diagnostics only**: the source image itself, pooled to a coarse grid.

It bounds from above what any prior on that grid can add; never use it for a claim (see :class:`OracleBackend`).
Importing this module registers its name with the library (:func:`basicsr_skt.skb.format.register_backend`), so that
datasets read its files: ``python -m research.train`` does it for training runs; ``python -m
research.make_oracle_priors`` writes the files.
"""
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from basicsr_skt.skb.extractors import SemanticBackend, check_fraction, to_float16
from basicsr_skt.skb.format import register_backend
from basicsr_skt.skb.superpixels import SuperpixelLabels


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
            slic_compactness: As :class:`~basicsr_skt.skb.vgg_backend.Vgg16Backend`.
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
        return to_float16(embedding, self.name), (height / grid_h, width / grid_w), {}


register_backend(OracleBackend.name)
