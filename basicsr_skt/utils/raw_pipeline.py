"""RAW (Bayer RGGB) helpers: packing, Bayer-phase-preserving flips, a simple RAW -> display pipeline and its inverse.

Conventions (BracketIRE-style data, see ``basicsr_skt.data.bracketire_dataset``):

* A **mosaic** is an (H, W) array (H, W even) whose 2 x 2 cells are ``[[R, G1], [G2, B]]`` (RGGB, the top-left pixel is
  red). **Packed** is the (H/2, W/2, 4) array of its cells, channels ``(R, G1, G2, B)`` (:data:`PACKED_CHANNELS`).
* **Metadata** (:func:`normalise_raw_metadata`): ``wb`` white-balance gains (R, G1, G2, B), ``ccm`` the 3 x 3 camera
  RGB -> linear sRGB matrix (rows: output R, G, B), ``black_level`` / ``white_level`` of the stored frames,
  ``exposures`` (exposure time per frame, any unit) and ``ref_index`` (the frame the GT is aligned with).
* **Display pipeline** (:func:`raw_to_linear_srgb`, :func:`raw_to_display`): white balance on the packed RAW,
  demosaic (bilinear on the mosaic, full resolution; or 2 x 2 binning ``(R, (G1 + G2) / 2, B)`` at the packed
  resolution), colour matrix, clip to [0, 1], then a tone curve: μ-law ``T(x) = log(1 + μx) / log(1 + μ)`` (the
  BracketIRE metric protocol and the SKB source) or the sRGB gamma (IEC 61966-2-1), optionally quantised (16 bits for
  the metric protocol). Outputs are **RGB** (convert with ``[..., ::-1]`` for the project's BGR images).
* :func:`linear_srgb_to_camera` + :func:`mosaic_rgb` invert the pipeline (for the synthetic generator); the round trip
  is exact up to float rounding on pixels that are not clipped and where the bilinear demosaic is exact (e.g. images
  that are linear ramps within 3 x 3 neighbourhoods, or constant per 2 x 2 cell with binning).
"""
from typing import Dict, Mapping, Optional, Sequence

import cv2
import numpy as np

from basicsr_skt.utils.tonemap import DEFAULT_MU, mu_law

#: Packed channel order (RGGB mosaic cells read row by row).
PACKED_CHANNELS = ('R', 'G1', 'G2', 'B')
#: (row, column) of each packed channel inside a 2 x 2 cell.
CELL_OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))
#: Colour (0 R, 1 G, 2 B) of each packed channel.
CHANNEL_COLOUR = (0, 1, 1, 2)
TONE_CURVES = ('mu_law', 'srgb', 'linear')
#: Exposure ratio between neighbouring frames in BracketIRE.
BRACKETIRE_RATIO = 4.0

_BILINEAR_RB = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 4.0
_BILINEAR_G = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], np.float32) / 4.0


# ------------------------------------------------------------------------------------------------------ packing
def pack_bayer(mosaic: np.ndarray) -> np.ndarray:
    """RGGB mosaic (H, W) -> packed (H/2, W/2, 4), channels (R, G1, G2, B); dtype kept.

    Raises:
        ValueError: Not 2-D, or an odd height / width.
    """
    mosaic = np.asarray(mosaic)
    if mosaic.ndim != 2 or mosaic.shape[0] % 2 or mosaic.shape[1] % 2:
        raise ValueError(f'Expected an (H, W) Bayer mosaic with even H and W, got shape {mosaic.shape}')
    return np.ascontiguousarray(np.stack([mosaic[dy::2, dx::2] for dy, dx in CELL_OFFSETS], axis=-1))


def unpack_bayer(packed: np.ndarray) -> np.ndarray:
    """Packed (h, w, 4) -> RGGB mosaic (2h, 2w); the inverse of :func:`pack_bayer`."""
    packed = _check_packed(packed)
    h, w = packed.shape[:2]
    mosaic = np.empty((2 * h, 2 * w), packed.dtype)
    for channel, (dy, dx) in enumerate(CELL_OFFSETS):
        mosaic[dy::2, dx::2] = packed[..., channel]
    return mosaic


def mosaic_rgb(rgb: np.ndarray) -> np.ndarray:
    """Sample a full-resolution RGB image (H, W, 3), H and W even, on the RGGB pattern -> mosaic (H, W)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] % 2 or rgb.shape[1] % 2:
        raise ValueError(f'Expected an (H, W, 3) RGB image with even H and W, got shape {rgb.shape}')
    mosaic = np.empty(rgb.shape[:2], rgb.dtype)
    for (dy, dx), colour in zip(CELL_OFFSETS, CHANNEL_COLOUR):
        mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, colour]
    return mosaic


def _check_packed(packed: np.ndarray) -> np.ndarray:
    packed = np.asarray(packed)
    if packed.ndim != 3 or packed.shape[2] != 4:
        raise ValueError(f'Expected a packed RGGB array (h, w, 4), got shape {packed.shape}')
    return packed


# ------------------------------------------------------------------------------------------------ augmentation
def flip_packed(packed: np.ndarray, axis: int) -> np.ndarray:
    """Mirror a packed RAW window so that the result is the mirrored mosaic, still RGGB (Bayer-phase exact).

    Mirroring the mosaic turns RGGB into GRBG (horizontal) or GBRG (vertical); dropping the first and last mosaic
    column (row) of the mirrored window restores RGGB. The window therefore needs one more packed pixel along
    ``axis`` than the result: ``(h, w + 1, 4) -> (h, w, 4)`` for ``axis=1``. Every output channel keeps its colour and
    holds real samples (no interpolation): ``unpack_bayer(out) == unpack_bayer(window)[:, ::-1][:, 1:-1]``.

    Args:
        packed: (h, w, C) with C = 4 packed channels (R, G1, G2, B).
        axis: 0 (vertical flip) or 1 (horizontal flip).

    Returns:
        (h - 1, w, 4) for ``axis=0`` or (h, w - 1, 4) for ``axis=1``, same dtype.
    """
    packed = _check_packed(packed)
    if axis not in (0, 1) or packed.shape[axis] < 2:
        raise ValueError(f'flip_packed needs axis 0 or 1 and at least 2 cells along it, got axis {axis}, '
                         f'shape {packed.shape}')
    size = packed.shape[axis] - 1
    # Channels at an even mosaic position along `axis` (R, G2 for columns; R, G1 for rows) come from cell size - j,
    # the others from cell size - 1 - j (the mirrored mosaic shifted by one pixel).
    even = (0, 2) if axis == 1 else (0, 1)
    out = np.empty(packed.shape[:axis] + (size, ) + packed.shape[axis + 1:], packed.dtype)
    flipped = np.flip(packed, axis=axis)
    for channel in range(4):
        start = 0 if channel in even else 1
        index = [slice(None)] * 2 + [channel]
        index[axis] = slice(start, start + size)
        out[..., channel] = flipped[tuple(index)]
    return out


def transpose_packed(packed: np.ndarray) -> np.ndarray:
    """Transpose a packed RAW array, Bayer-phase exact: the mosaic's transpose is RGGB with G1 and G2 swapped.

    Returns:
        (w, h, 4) view-free copy, same dtype; ``unpack_bayer(out) == unpack_bayer(packed).T``.
    """
    packed = _check_packed(packed)
    return np.ascontiguousarray(packed.transpose(1, 0, 2)[..., [0, 2, 1, 3]])


# ------------------------------------------------------------------------------------------------------ metadata
def wb_gains(wb: Sequence[float]) -> np.ndarray:
    """White-balance gains as float32 (4,) in packed order (R, G1, G2, B); 3 gains (R, G, B) repeat G."""
    gains = np.asarray(wb, dtype=np.float64).reshape(-1)
    if gains.size == 3:
        gains = gains[[0, 1, 1, 2]]
    if gains.size != 4 or not np.all(np.isfinite(gains)) or not np.all(gains > 0):
        raise ValueError(f'wb must hold 3 (R, G, B) or 4 (R, G1, G2, B) positive gains, got {np.asarray(wb)}')
    return gains.astype(np.float32)


def exposure_times(num_frames: int, ratio: float = BRACKETIRE_RATIO) -> np.ndarray:
    """Default exposure times ``ratio ** i`` (shortest first, the shortest is 1), float64 (N,)."""
    return ratio**np.arange(num_frames, dtype=np.float64)


def normalise_raw_metadata(meta: Mapping, num_frames: int, where: str = 'metadata') -> Dict[str, object]:
    """Check a scene's metadata dict and return it in the documented JSON-compatible layout.

    Args:
        meta: ``wb`` (3 or 4 gains, required), ``ccm`` (3 x 3, required), ``black_level`` (scalar or 4 values in
            packed order; default 0), ``white_level`` (scalar; default 1.0 for float frames already in [0, 1]),
            ``exposures`` (N positive exposure times, shortest first; default ``4 ** i``), ``ref_index`` (frame the GT
            is aligned with; default ``N // 2``). Other keys are kept when JSON-compatible scalars / strings.
        num_frames: N, the frames of the scene.
        where: Names the file in error messages.

    Returns:
        ``{'wb': [4 floats], 'ccm': [[3 floats] x 3], 'black_level': [4 floats], 'white_level': float,
        'exposures': [N floats], 'ref_index': int, ...}``.

    Raises:
        ValueError: Missing / malformed entries, the message names ``where`` and the key.
    """
    if not isinstance(meta, Mapping):
        raise ValueError(f'{where}: expected a dict (np.save of a dict), got {type(meta).__name__}')
    for key in ('wb', 'ccm'):
        if key not in meta:
            raise ValueError(f'{where}: missing {key!r} (keys: {sorted(meta)})')
    try:
        gains = wb_gains(meta['wb'])
    except ValueError as err:
        raise ValueError(f'{where}: {err}') from None
    ccm = np.asarray(meta['ccm'], dtype=np.float64)
    if ccm.shape != (3, 3) or not np.all(np.isfinite(ccm)) or abs(np.linalg.det(ccm)) < 1e-8:
        raise ValueError(f'{where}: ccm must be an invertible 3 x 3 camera RGB -> sRGB matrix, got {ccm.tolist()}')
    black = np.asarray(meta.get('black_level', 0.0), np.float64).reshape(-1)
    black = np.repeat(black, 4) if black.size == 1 else black
    white = float(np.asarray(meta.get('white_level', 1.0), np.float64).reshape(-1)[0])
    if black.shape != (4, ) or not np.all(np.isfinite(black)) or not np.all(white > black):
        raise ValueError(f'{where}: black_level (1 or 4 values) must lie below white_level, got '
                         f'{meta.get("black_level")} / {meta.get("white_level")}')
    exposures = np.asarray(meta.get('exposures', exposure_times(num_frames)), np.float64).reshape(-1)
    if exposures.shape != (num_frames, ) or not np.all(np.isfinite(exposures)) or not np.all(exposures > 0):
        raise ValueError(f'{where}: exposures must hold {num_frames} positive values, got {exposures.tolist()}')
    ref_index = int(meta.get('ref_index', num_frames // 2))
    if not 0 <= ref_index < num_frames:
        raise ValueError(f'{where}: ref_index {ref_index} is not a frame index (0..{num_frames - 1})')
    out = {k: v for k, v in meta.items() if isinstance(v, (str, bool, int, float)) and not isinstance(v, np.generic)}
    out.update(
        wb=gains.tolist(),
        ccm=ccm.tolist(),
        black_level=black.tolist(),
        white_level=white,
        exposures=exposures.tolist(),
        ref_index=ref_index)
    return out


def normalise_frame(raw: np.ndarray, black_level: Sequence[float], white_level: float) -> np.ndarray:
    """Packed stored frame (h, w, 4), any dtype -> float32 ``clip((raw - black) / (white - black), 0, 1)``."""
    black = np.asarray(black_level, np.float32).reshape(1, 1, 4)
    scale = np.float32(1.0) / (np.float32(white_level) - black)
    return np.clip((_check_packed(raw).astype(np.float32) - black) * scale, 0.0, 1.0)


# ------------------------------------------------------------------------------------------------------ pipeline
def demosaic_bilinear(packed: np.ndarray) -> np.ndarray:
    """Bilinear demosaic of a packed RGGB image -> full-resolution RGB (2h, 2w, 3) float32.

    Each colour's samples are spread over the mosaic (zeros elsewhere) and filtered with the bilinear kernels
    (``[1 2 1; 2 4 2; 1 2 1] / 4`` for R and B, ``[0 1 0; 1 4 1; 0 1 0] / 4`` for G); known samples are kept. Borders
    are mirrored without repeating the edge (``BORDER_REFLECT_101``), which keeps the Bayer phase. Exact on images that
    are affine within every 3 x 3 neighbourhood (away from the border).
    """
    packed = _check_packed(packed).astype(np.float32)
    h, w = packed.shape[:2]
    rgb = np.zeros((2 * h, 2 * w, 3), np.float32)
    for (dy, dx), colour, channel in zip(CELL_OFFSETS, CHANNEL_COLOUR, range(4)):
        rgb[dy::2, dx::2, colour] = packed[..., channel]
    for colour, kernel in ((0, _BILINEAR_RB), (1, _BILINEAR_G), (2, _BILINEAR_RB)):
        rgb[..., colour] = cv2.filter2D(rgb[..., colour], cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT_101)
    return rgb


def bin_to_rgb(packed: np.ndarray) -> np.ndarray:
    """2 x 2 binning demosaic at the packed resolution: (h, w, 4) -> RGB (h, w, 3) = (R, (G1 + G2) / 2, B), float32."""
    packed = _check_packed(packed).astype(np.float32)
    return np.stack([packed[..., 0], 0.5 * (packed[..., 1] + packed[..., 2]), packed[..., 3]], axis=-1)


def apply_ccm(rgb: np.ndarray, ccm: np.ndarray) -> np.ndarray:
    """``out[..., i] = Σ_j ccm[i, j] * rgb[..., j]`` for an (..., 3) image, float32."""
    return np.einsum('...j,ij->...i', np.asarray(rgb, np.float32), np.asarray(ccm, np.float32)).astype(np.float32)


def raw_to_linear_srgb(packed: np.ndarray,
                       wb: Sequence[float],
                       ccm: np.ndarray,
                       full_resolution: bool = True,
                       clip: bool = True) -> np.ndarray:
    """Packed linear RAW -> linear sRGB (RGB order).

    Args:
        packed: (h, w, 4) linear RAW, RGGB channels, black level removed; the display white is 1 (e.g. the
            network's normalised output RAW / 16 in [0, 1]).
        wb: 3 or 4 white-balance gains.
        ccm: 3 x 3 camera RGB -> linear sRGB matrix.
        full_resolution: Bilinear demosaic to (2h, 2w) (default), else 2 x 2 binning at (h, w).
        clip: Clip the result to [0, 1].

    Returns:
        float32 (2h, 2w, 3) or (h, w, 3) linear sRGB, RGB.
    """
    balanced = _check_packed(packed).astype(np.float32) * wb_gains(wb).reshape(1, 1, 4)
    rgb = demosaic_bilinear(balanced) if full_resolution else bin_to_rgb(balanced)
    srgb = apply_ccm(rgb, ccm)
    return np.clip(srgb, 0.0, 1.0) if clip else srgb


def srgb_gamma(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve (IEC 61966-2-1) on linear values in [0, 1], float32."""
    x = np.clip(np.asarray(linear, np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def tone_curve(linear: np.ndarray, tone: str = 'mu_law', mu: float = DEFAULT_MU) -> np.ndarray:
    """``'mu_law'`` (T with μ), ``'srgb'`` (gamma) or ``'linear'`` (identity) on values in [0, 1], float32."""
    if tone == 'mu_law':
        return mu_law(np.asarray(linear, np.float32), mu).astype(np.float32)
    if tone == 'srgb':
        return srgb_gamma(linear)
    if tone == 'linear':
        return np.asarray(linear, np.float32)
    raise ValueError(f'Unknown tone curve {tone!r}; choose one of {TONE_CURVES}')


def quantise(values: np.ndarray, bits: Optional[int]) -> np.ndarray:
    """Round values in [0, 1] to ``2 ** bits - 1`` levels (what writing a ``bits``-bit PNG does); None: unchanged."""
    if bits is None:
        return np.asarray(values, np.float32)
    levels = float(2**bits - 1)
    return (np.round(np.clip(values, 0.0, 1.0) * levels) / levels).astype(np.float32)


def raw_to_display(packed: np.ndarray,
                   wb: Sequence[float],
                   ccm: np.ndarray,
                   tone: str = 'mu_law',
                   mu: float = DEFAULT_MU,
                   bits: Optional[int] = 16,
                   full_resolution: bool = True) -> np.ndarray:
    """Packed linear RAW -> display image in [0, 1], RGB: :func:`raw_to_linear_srgb` (clipped), tone curve, quantised.

    With the defaults this is the BracketIRE metric protocol's image: μ-law (μ = 5000) sRGB at 16 bits.

    Returns:
        float32 (2h, 2w, 3) (or (h, w, 3) with ``full_resolution=False``) in [0, 1].
    """
    return quantise(tone_curve(raw_to_linear_srgb(packed, wb, ccm, full_resolution), tone, mu), bits)


# ------------------------------------------------------------------------------------------------------ inverse
def linear_srgb_to_camera(srgb: np.ndarray, wb: Sequence[float], ccm: np.ndarray, clip: bool = True) -> np.ndarray:
    """Invert the colour steps of :func:`raw_to_linear_srgb`: ``camera = ccm^-1 · srgb / wb`` per pixel.

    Args:
        srgb: (..., 3) linear sRGB (RGB order), any scale.
        wb: 3 or 4 gains (G1 and G2 gains must agree for an exact inverse; their mean is used for G).
        ccm: 3 x 3 camera RGB -> sRGB matrix.
        clip: Clip negative camera values (colours outside the camera gamut) to 0.

    Returns:
        float32 (..., 3) camera RGB (before white balance).
    """
    gains = wb_gains(wb)
    rgb_gains = np.array([gains[0], 0.5 * (gains[1] + gains[2]), gains[3]], np.float64)
    camera = np.einsum('...j,ij->...i', np.asarray(srgb, np.float64), np.linalg.inv(np.asarray(ccm, np.float64)))
    camera = camera / rgb_gains
    return (np.maximum(camera, 0.0) if clip else camera).astype(np.float32)


def random_camera(rng: np.random.Generator) -> Dict[str, object]:
    """A plausible random camera: WB gains (R 1.6-2.4, G 1, B 1.3-2.1) and a CCM with rows summing to 1.

    The CCM has negative off-diagonal entries (-0.45 .. -0.05), like real camera matrices, and a unit row sum, so a
    white-balanced grey stays grey. Diagonally dominant, hence invertible.

    Returns:
        ``{'wb': [4 floats], 'ccm': [[3 floats] x 3]}``.
    """
    r_gain, b_gain = rng.uniform(1.6, 2.4), rng.uniform(1.3, 2.1)
    off = -rng.uniform(0.05, 0.45, size=(3, 3))
    np.fill_diagonal(off, 0.0)
    ccm = off + np.diag(1.0 - off.sum(axis=1))
    return {'wb': [float(r_gain), 1.0, 1.0, float(b_gain)], 'ccm': ccm.tolist()}


def border_crop(img: np.ndarray, border: int) -> np.ndarray:
    """``img[border:-border, border:-border]`` (``border`` 0: unchanged); ValueError when nothing is left."""
    if border < 0:
        raise ValueError(f'border must be >= 0, got {border}')
    if border == 0:
        return img
    if min(img.shape[:2]) <= 2 * border:
        raise ValueError(f'Nothing left after removing a {border} px border from a {img.shape[1]} x {img.shape[0]} '
                         'image')
    return img[border:-border, border:-border]
