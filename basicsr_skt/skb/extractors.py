"""The interface of the SKB's semantic backends: an image embedding on a cell grid plus a segment label map per image.

Every backend takes a display-referred uint8 RGB image (H, W, 3) (see :mod:`basicsr_skt.skb.source`) and gives

* ``embed(image) -> (embedding, (cy, cx))``: float16 (C, He, We) and the cell size in image pixels, in the
  cell-centre geometry of :mod:`basicsr_skt.skb.geometry`;
* ``segment(image) -> labels``: uint16 (H, W), 0 = background, 1..K area-sorted (segments below ``min_area`` merged
  into 0);
* ``extract(image) -> dict``: both at once plus the meta entries (``backend``, ``cell_size``, settings) of the SKB
  format; :class:`~basicsr_skt.skb.sam_backend.SamBackend` runs its image encoder only once there.

Backends (each in its own module, all on :class:`SemanticBackend`):

* :class:`~basicsr_skt.skb.sam_backend.SamBackend`: Segment Anything (``segment_anything`` package; user-supplied
  checkpoint, never downloaded).
* :class:`~basicsr_skt.skb.vgg_backend.Vgg16Backend`: ImageNet VGG16 features (offline weights from
  ``basicsr_skt.utils.vgg_weights``) with Felzenszwalb or SLIC superpixels from scikit-image
  (:mod:`basicsr_skt.skb.superpixels`): a weaker stand-in where no SAM checkpoint is available.

The diagnostic oracle backend (the source image itself on a coarse grid, never for a claim) lives in
``research/oracle_backend.py``; it builds on this interface and :mod:`basicsr_skt.skb.superpixels`.

``min_area`` is an absolute pixel count; ``min_area_fraction`` (when set) replaces it by a share of each image's
area, so the same setting gives comparable segments at every image size (SMHDR's 1000 px on Kalantari's
1500 x 1000 frames is a fraction of 1/1500).
"""
import abc
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch

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


def to_float16(features: torch.Tensor, what: str) -> np.ndarray:
    """(C, He, We) tensor -> float16 numpy, refusing values float16 cannot hold.

    Args:
        features: The embedding.
        what: The backend, for the message.

    Returns:
        The embedding as a float16 array.

    Raises:
        ValueError: A value overflows float16 or is NaN.
    """
    with np.errstate(over='ignore'):  # overflow becomes inf, reported below
        array = features.detach().float().cpu().numpy().astype(np.float16)
    if not np.all(np.isfinite(array)):
        raise ValueError(f'{what}: the embedding overflows float16 (|value| > 65504) or holds NaN')
    return array


class SemanticBackend(abc.ABC):
    """Interface of an SKB extractor; see the module docstring.

    Attributes:
        name: The ``backend`` value written to ``skb_meta.json`` (one of ``basicsr_skt.skb.format.known_backends()``).
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
