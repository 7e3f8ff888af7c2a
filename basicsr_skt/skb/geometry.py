"""Geometry of SKB embeddings: sampling an embedding grid onto image pixels (crops), and cropping label maps.

Convention (SKB format 1). Pixel (y, x) of the scene image has its centre at (y, x). Embedding cell (i, j), with
cell size (cy, cx) in image pixels, has its centre at::

    ((i + 0.5) * cy - 0.5, (j + 0.5) * cx - 0.5)

so pixel y lies at the fractional cell coordinate ``u = (y + 0.5) / cy - 0.5``. Sampling is bilinear between the
cells ``floor(u)`` and ``floor(u) + 1``, with ``u`` clipped to ``[0, He - 1]`` first: pixels beyond the outermost
cell centres take the edge cells' values (edge replicate, like ``F.interpolate(..., align_corners=False)`` does at
the border). For SAM, ``cy = cx = 16 / s`` with ``s = 1024 / max(H, W)``: cells in the zero padding beyond the
resized image never get sampled, because ``u`` stays within the image's own cells.

Sampling a crop equals cropping the full-image sampling: the weights depend only on absolute pixel coordinates.
"""
from typing import Sequence, Tuple, Union

import numpy as np
import torch

ArrayOrTensor = Union[np.ndarray, torch.Tensor]


def cell_coordinates(start: int, length: int, cell: float, num_cells: int) -> np.ndarray:
    """Fractional embedding coordinates of the pixel centres ``start .. start + length - 1`` along one axis.

    Args:
        start: First pixel index (top or left of the crop).
        length: Number of pixels.
        cell: Cell size in pixels along this axis (> 0).
        num_cells: Number of embedding cells along this axis (>= 1).

    Returns:
        float64 array (length,): ``clip((p + 0.5) / cell - 0.5, 0, num_cells - 1)`` for each pixel p.
    """
    if not cell > 0:
        raise ValueError(f'cell size must be > 0, got {cell}')
    if num_cells < 1:
        raise ValueError(f'num_cells must be >= 1, got {num_cells}')
    pixels = np.arange(start, start + length, dtype=np.float64)
    return np.clip((pixels + 0.5) / float(cell) - 0.5, 0.0, num_cells - 1.0)


def check_embedding_geometry(embedding_shape: Sequence[int],
                             cell_size: Sequence[float],
                             image_size: Sequence[int],
                             name: str = 'embedding') -> None:
    """Check that an embedding grid fits an image: its cells must cover the image along each axis.

    Backends give grids that cover the image to within one cell (VGG16: ``floor(h' / stride)`` cells of
    ``stride * H / h'`` pixels) and at most the long side plus one cell (SAM pads the image to a square). A grid
    outside these bounds was made for another image size or with another ``cell_size``; sampling it would silently
    misplace the priors.

    Args:
        embedding_shape: ``(C, He, We)`` (or ``(He, We)``).
        cell_size: ``(cy, cx)`` in image pixels.
        image_size: ``(H, W)`` of the scene's images.
        name: What to call the priors in the message (e.g. the scene and file).

    Raises:
        ValueError: Naming the grid size in pixels and the image size, and how to remake the priors.
    """
    rows, cols = (int(v) for v in tuple(embedding_shape)[-2:])
    cy, cx = (float(v) for v in cell_size)
    height, width = (int(v) for v in image_size)
    long_side = max(height, width)
    for axis, cells, cell, size in (('rows', rows, cy, height), ('columns', cols, cx, width)):
        covered = cells * cell
        if covered < size - cell - 1 or covered > long_side + cell + 1:
            raise ValueError(f'{name}: the embedding grid ({rows} x {cols} cells of {cy:g} x {cx:g} pixels = '
                             f'{rows * cy:g} x {cols * cx:g} pixels) does not fit the {height} x {width} image along '
                             f'its {axis}: the priors were made for another image size or with another cell_size; '
                             'remake them with scripts/make_semantic_priors.py --force')


def _interpolation_indices(coords: np.ndarray, num_cells: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower index, upper index, float32 weight of the upper cell) for fractional coordinates in [0, n - 1]."""
    lower = np.minimum(np.floor(coords).astype(np.int64), num_cells - 1)
    upper = np.minimum(lower + 1, num_cells - 1)
    return lower, upper, (coords - lower).astype(np.float32)


def _check_region(height: int, width: int, cell_size: Sequence[float]) -> Tuple[float, float]:
    if height < 1 or width < 1:
        raise ValueError(f'height and width must be >= 1, got {height} x {width}')
    if len(cell_size) != 2:
        raise ValueError(f'cell_size must be (cy, cx), got {cell_size!r}')
    return float(cell_size[0]), float(cell_size[1])


def resample_embedding(embedding: ArrayOrTensor,
                       cell_size: Sequence[float],
                       top: int,
                       left: int,
                       height: int,
                       width: int,
                       channels_last: bool = False) -> ArrayOrTensor:
    """Bilinearly sample an embedding at the centres of image pixels ``[top, top+height) x [left, left+width)``.

    Uses the cell-centre convention of the module docstring (edge replicate beyond the outermost cell centres).
    Where a pixel centre coincides with a cell centre the result is that cell's value exactly.

    Args:
        embedding: (C, He, We) array or tensor, any float dtype (float16 as stored).
        cell_size: (cy, cx), the size of one cell in image pixels (``meta['cell_size']``).
        top: First image row of the region (any integer; rows outside the image replicate the edge cells).
        left: First image column of the region.
        height: Number of rows (>= 1).
        width: Number of columns (>= 1).
        channels_last: Return (height, width, C) instead (numpy input only), computed in that layout directly.

    Returns:
        float32 (C, height, width): numpy for numpy input, a tensor on the input's device for tensor input.

    Raises:
        ValueError: The embedding is not 3-D, the region is empty or a cell size is not positive.
    """
    cy, cx = _check_region(height, width, cell_size)
    if embedding.ndim != 3:
        raise ValueError(f'embedding must be (C, He, We), got shape {tuple(embedding.shape)}')
    _, num_rows, num_cols = embedding.shape
    r0, r1, wy = _interpolation_indices(cell_coordinates(top, height, cy, num_rows), num_rows)
    c0, c1, wx = _interpolation_indices(cell_coordinates(left, width, cx, num_cols), num_cols)
    if isinstance(embedding, torch.Tensor):
        if channels_last:
            raise ValueError('channels_last is only supported for numpy embeddings')
        return _resample_torch(embedding, (r0, r1, wy), (c0, c1, wx))
    # Only the cells under the region are converted to float32. Each output value is the explicit two-tap formula
    # a + w * (b - a) per axis (rows first, then columns): element-wise, so a pixel's value depends only on its own
    # cells and weights, never on the crop size or on a BLAS kernel's summation order (crop == region of the full).
    row_lo, col_lo = int(r0.min()), int(c0.min())
    window = np.asarray(embedding)[:, row_lo:int(r1.max()) + 1, col_lo:int(c1.max()) + 1].astype(np.float32)
    r0, r1, c0, c1 = r0 - row_lo, r1 - row_lo, c0 - col_lo, c1 - col_lo
    if channels_last:
        window = np.ascontiguousarray(window.transpose(1, 2, 0))  # (rows, cols, C)
        top_rows = window[r0]
        rows = top_rows + wy[:, None, None] * (window[r1] - top_rows)  # (height, cols, C)
        left_cols = rows[:, c0]
        return left_cols + wx[None, :, None] * (rows[:, c1] - left_cols)
    top_rows = window[:, r0]
    rows = top_rows + wy[None, :, None] * (window[:, r1] - top_rows)  # (C, height, cols)
    left_cols = rows[:, :, c0]
    return left_cols + wx[None, None, :] * (rows[:, :, c1] - left_cols)


def _resample_torch(embedding: torch.Tensor, rows: tuple, cols: tuple) -> torch.Tensor:
    """Tensor version of the separable bilinear sampling in :func:`resample_embedding`."""
    device = embedding.device

    def as_tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(device)

    r0, r1, wy = (as_tensor(a) for a in rows)
    c0, c1, wx = (as_tensor(a) for a in cols)
    low = embedding.index_select(1, r0).float()
    sampled_rows = low + wy[None, :, None] * (embedding.index_select(1, r1).float() - low)
    left = sampled_rows.index_select(2, c0)
    return left + wx[None, None, :] * (sampled_rows.index_select(2, c1) - left)


def crop_labels(labels: ArrayOrTensor, top: int, left: int, height: int, width: int) -> ArrayOrTensor:
    """The label map of the pixels ``[top, top+height) x [left, left+width)`` (a view, no copy).

    Args:
        labels: (H, W) label map (uint16 as stored, or a tensor).
        top: First row, ``0 <= top`` and ``top + height <= H``.
        left: First column, ``0 <= left`` and ``left + width <= W``.
        height: Number of rows (>= 1).
        width: Number of columns (>= 1).

    Returns:
        The (height, width) slice, same type and dtype as ``labels``.

    Raises:
        ValueError: The region is empty or leaves the map.
    """
    if labels.ndim != 2:
        raise ValueError(f'labels must be (H, W), got shape {tuple(labels.shape)}')
    full_h, full_w = labels.shape
    if height < 1 or width < 1 or top < 0 or left < 0 or top + height > full_h or left + width > full_w:
        raise ValueError(f'Crop rows [{top}, {top + height}) x columns [{left}, {left + width}) is empty or outside '
                         f'the {full_h} x {full_w} label map')
    return labels[top:top + height, left:left + width]
