"""Segment labels from scikit-image superpixels (Felzenszwalb or SLIC), shared by the VGG16 backend and research's
oracle backend.

``skimage`` (and OpenCV, for the optional shrink) are imported only when an image is segmented.
"""
from typing import Any, Dict, Optional

import numpy as np

from basicsr_skt.skb.labels import relabel_by_area

SEGMENTERS = ('felzenszwalb', 'slic')


class SuperpixelLabels:
    """Segment labels from scikit-image superpixels, shared by the VGG16 backend and research's oracle backend.

    Felzenszwalb-Huttenlocher graph segmentation (default) or SLIC on the uint8 RGB image (optionally on a copy
    shrunk to ``segment_max_side``, labels mapped back by nearest neighbour), then area-sorted with segments under
    the image's ``min_area`` (:meth:`~basicsr_skt.skb.extractors.SemanticBackend.min_area_for`) merged into
    background 0. Deterministic.
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
        """Store and check the segmentation settings.

        Args:
            segmenter, segment_max_side, felzenszwalb_scale, felzenszwalb_sigma, felzenszwalb_min_size,
                slic_segments, slic_compactness: As :class:`~basicsr_skt.skb.vgg_backend.Vgg16Backend`.
        """
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
