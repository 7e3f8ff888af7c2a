"""Segment label maps of the SKB: area-sorted ids 1..K, background 0, stored as uint16.

A label map assigns every pixel one integer: 0 is the background (pixels no segment claims, and segments smaller than
``min_area`` merged into it), 1..K are segments sorted by their area in the map, 1 the largest. Ties are broken by
the order of the input ids (the smaller input id first), so the result is deterministic.
"""
from typing import Optional, Sequence

import numpy as np

MAX_SEGMENTS = int(np.iinfo(np.uint16).max)  # ids must fit uint16


def relabel_by_area(segment_ids: np.ndarray, min_area: int = 0, ignore: Optional[int] = None) -> np.ndarray:
    """Renumber a segmentation into area-sorted labels 1..K, merging small segments into the background 0.

    Args:
        segment_ids: Integer array (H, W): one arbitrary id per segment (e.g. Felzenszwalb / SLIC output).
        min_area: Segments with fewer than ``min_area`` pixels become background 0.
        ignore: An id that means "no segment" (it becomes background 0 whatever its area), or None.

    Returns:
        uint16 array (H, W): 0 = background, 1..K = segments sorted by decreasing area (ties: smaller input id first).

    Raises:
        ValueError: ``segment_ids`` is not a 2-D integer array, ``min_area < 0``, or more than 65535 segments remain.
    """
    ids = np.asarray(segment_ids)
    if ids.ndim != 2 or not (np.issubdtype(ids.dtype, np.integer) or ids.dtype == np.bool_):
        raise ValueError(f'segment_ids must be a 2-D integer array, got {ids.dtype} of shape {ids.shape}')
    if min_area < 0:
        raise ValueError(f'min_area must be >= 0, got {min_area}')
    values, inverse, counts = np.unique(ids.ravel(), return_inverse=True, return_counts=True)
    keep = counts >= min_area
    if ignore is not None:
        keep &= values != ignore
    order = np.argsort(-counts, kind='stable')  # np.unique sorted the ids, so ties keep the smaller id first
    order = order[keep[order]]
    if len(order) > MAX_SEGMENTS:
        raise ValueError(f'{len(order)} segments do not fit a uint16 label map (at most {MAX_SEGMENTS}); raise '
                         'min_area or coarsen the segmentation')
    lookup = np.zeros(len(values), dtype=np.uint16)
    lookup[order] = np.arange(1, len(order) + 1, dtype=np.uint16)
    return lookup[inverse].reshape(ids.shape)


def masks_to_labels(masks: Sequence[np.ndarray], shape: Sequence[int], min_area: int = 0) -> np.ndarray:
    """Flatten possibly overlapping binary masks (e.g. SAM's automatic masks) into one label map.

    Masks are painted from the largest to the smallest (stable for equal areas), so a smaller mask lying on a larger
    one stays visible; pixels no mask covers are background. The visible parts are then renumbered by
    :func:`relabel_by_area` (visible area, not mask area, decides the order and the ``min_area`` test).

    Args:
        masks: Boolean arrays of shape ``shape`` (H, W).
        shape: (H, W) of the label map (used when ``masks`` is empty).
        min_area: Visible segments smaller than this merge into background 0.

    Returns:
        uint16 label map (H, W), see :func:`relabel_by_area`.

    Raises:
        ValueError: A mask has another shape.
    """
    height, width = int(shape[0]), int(shape[1])
    canvas = np.full((height, width), -1, dtype=np.int32)
    areas = []
    for index, mask in enumerate(masks):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (height, width):
            raise ValueError(f'Mask {index} has shape {mask.shape}, expected {(height, width)}')
        areas.append(int(mask.sum()))
    for index in np.argsort(-np.asarray(areas, dtype=np.int64), kind='stable'):
        canvas[np.asarray(masks[index], dtype=bool)] = index
    return relabel_by_area(canvas, min_area=min_area, ignore=-1)


def check_label_map(labels: np.ndarray, num_segments: Optional[int] = None, name: str = 'labels') -> int:
    """Check the label-map contract: uint16 (H, W), ids 0..K all used from 1 to K, sorted by decreasing area.

    Args:
        labels: The label map.
        num_segments: Expected K, or None to accept any.
        name: What to call the map in error messages (e.g. its file).

    Returns:
        K, the number of segments (the largest label).

    Raises:
        ValueError: Wrong dtype or rank, a label of 1..K unused, areas not in decreasing order, or K differs from
            ``num_segments``.
    """
    if not isinstance(labels, np.ndarray) or labels.dtype != np.uint16 or labels.ndim != 2:
        desc = f'{labels.dtype} array of shape {labels.shape}' if isinstance(labels, np.ndarray) else type(labels)
        raise ValueError(f'{name}: expected a uint16 (H, W) label map, got {desc}')
    areas = np.bincount(labels.ravel())
    count = len(areas) - 1
    if num_segments is not None and count != num_segments:
        raise ValueError(f'{name}: largest label is {count} but num_segments is {num_segments}')
    segment_areas = areas[1:]
    if np.any(segment_areas == 0):
        missing = (np.flatnonzero(segment_areas == 0) + 1)[:10].tolist()
        raise ValueError(f'{name}: labels must be contiguous 1..{count}; unused label(s) {missing}')
    if np.any(np.diff(segment_areas) > 0):
        raise ValueError(f'{name}: labels 1..{count} must be sorted by decreasing area (1 = largest)')
    return count
