"""Checks of physically impossible scenes (dataset reading, LMDB packing, inference on brackets): exposures that do
not increase with the frame order, frames that mix bit depths or grayscale and colour, an all-zero GT; and the
command-line exposure lists of the data generators, which must increase.

Imports nothing above ``basicsr_skt.utils``; the warning goes through BasicSR's root logger.
"""
import math
from typing import Any, List, Sequence

#: Largest spacing, in EV stops, between neighbouring frames of a bracket. Cameras' auto-exposure bracketing steps go
#: up to 3 stops (Kalantari'17 uses 2 and 3, Tel'23 2, BracketIRE ratio 4 = 2); twice that is allowed, beyond it the
#: values are a typo (tens of stops) or a unit mix-up (seconds given as EVs), and the merged HDR would be meaningless.
MAX_EV_STEP = 6.0


def check_ev_spacing(evs: Sequence[float], what: str) -> None:
    """Neighbouring EVs (shortest first) at most :data:`MAX_EV_STEP` stops apart.

    Args:
        evs (Sequence[float]): EV stops in increasing order (``log2`` of the exposure times).
        what (str): Where they come from, for the message (``"Scene 'x': exposure file <...>"``, ``'--evs'``).

    Raises:
        UserInputError: Naming the source, the two neighbours and the valid range.
    """
    from basicsr_skt.utils.errors import UserInputError

    for i in range(1, len(evs)):
        step = evs[i] - evs[i - 1]
        if step > MAX_EV_STEP:
            listing = ' '.join(f'{ev:g}' for ev in evs)
            raise UserInputError(f'{what}: EVs {listing} put frames {i} and {i + 1} {step:g} stops apart; neighbouring '
                                 f'frames of a bracket must lie within (0, {MAX_EV_STEP:g}] stops (cameras bracket in '
                                 'steps of up to 3): check for a typo, or exposure times in seconds given as EVs')


def check_exposure_order(scene: str, times: Sequence[float], names: Sequence[str], source: str) -> None:
    """Exposure times must strictly increase with the frame order (shortest first, as the networks expect).

    Frames are ordered by file name and the exposure file lists one EV per frame in that order; a repeated value
    is not a bracket (two frames with the same exposure add no dynamic range), a decreasing one means the exposure
    file and the file names disagree (the reference would be wrong and ``L ** gamma / t`` mis-scaled).

    Args:
        scene (str): Scene name, for the message.
        times (Sequence[float]): Exposure time per frame, in frame order.
        names (Sequence[str]): Frame file names, same order.
        source (str): Where the times come from (the exposure file, ``--ev``, EXIF ...).

    Raises:
        UserInputError: Naming the scene, the source, the frames and their values.
    """
    from basicsr_skt.utils.errors import UserInputError

    values = [float(t) for t in times]
    if all(value > values[i - 1] for i, value in enumerate(values) if i) and all(v > 0 for v in values):
        check_ev_spacing([math.log2(v) for v in values], f'Scene {scene!r}: {source}')
    for i in range(1, len(values)):
        if values[i] > values[i - 1]:
            continue
        listing = ', '.join(f'{name}: {value:g}' for name, value in zip(names, values))
        kind = 'repeats an exposure' if values[i] == values[i - 1] else 'is not in increasing order'
        raise UserInputError(
            f'Scene {scene!r}: {source} {kind} ({listing}; exposure times t = 2 ** ev in frame order): frames, '
            'sorted by file name, must go from the shortest to the longest exposure, each one longer than the '
            'previous. Fix the exposure values, or rename the frames so that their name order is the exposure order')


def check_same_bit_depth(scene: str, names: Sequence[str], dtypes: Sequence[object]) -> None:
    """All frames of a scene must share one bit depth (a documented decision, see ``docs/bad-inputs.md``).

    Mixed 8-/16-bit frames would each be normalised by their own white level and still run, but such a scene is
    almost always a mistake (one frame re-exported through an 8-bit tool, losing the precision that HDR merging needs).

    Args:
        scene (str): Scene name.
        names (Sequence[str]): Frame file names.
        dtypes (Sequence[object]): Stored dtype per frame (uint8 / uint16).

    Raises:
        ValueError: Naming the scene and each frame's bit depth.
    """
    import numpy as np

    depths = [8 * np.dtype(dtype).itemsize for dtype in dtypes]
    if len(set(depths)) > 1:
        listing = ', '.join(f'{name} {depth}-bit' for name, depth in zip(names, depths))
        raise ValueError(f'Scene {scene!r}: frames mix bit depths ({listing}); all frames of a scene must have the '
                         'same bit depth: re-export the odd frame(s) from the originals (e.g. all 16-bit TIFF)')


def is_gray_frame(frame: Any) -> bool:
    """Whether an ``H x W x 3`` frame holds one channel repeated (a grayscale file) and is not constant."""
    import numpy as np

    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] < 3 or frame.min() == frame.max():
        return False
    return bool(np.array_equal(frame[..., 0], frame[..., 1]) and np.array_equal(frame[..., 0], frame[..., 2]))


def check_same_channels(scene: str, names: Sequence[str], frames: Sequence[Any]) -> None:
    """Grayscale and colour frames must not be mixed in one scene.

    Grayscale files are read as three equal channels, so a mixed scene still runs, but the gray frame carries no
    colour for the merge to use, and the networks treat its missing colour as content (a grey cast in the regions
    that frame exposes best). An all-gray scene is accepted (a monochrome bracket).

    Args:
        scene (str): Scene name.
        names (Sequence[str]): Frame file names.
        frames (Sequence[Any]): The frames as read (``H x W x 3``).

    Raises:
        UserInputError: Naming the gray and the colour frames.
    """
    from basicsr_skt.utils.errors import UserInputError

    gray = [is_gray_frame(frame) for frame in frames]
    if any(gray) and not all(gray):
        gray_names = [name for name, g in zip(names, gray) if g]
        colour_names = [name for name, g in zip(names, gray) if not g]
        raise UserInputError(f'Scene {scene!r}: frames mix grayscale ({", ".join(gray_names)}) and colour '
                             f'({", ".join(colour_names)}); all frames of a scene must have the same channels: '
                             're-export the grayscale frame(s) in colour from the originals')


def check_gt_content(scene: str, path: str, gt: Any, logger=None) -> None:
    """A GT that is all zero is refused; a constant GT is accepted with a warning.

    An all-zero GT (a failed export, an empty file written by a crashed tool) makes every loss and metric
    meaningless (PSNR is infinite or undefined). A constant non-zero GT is physically possible (a flat test
    target) but in a real capture means a broken file, so it is reported.

    Args:
        scene (str): Scene name.
        path (str): The GT file (or LMDB key).
        gt (Any): The GT image.
        logger: ``logging.Logger`` for the warning; default BasicSR's root logger.

    Raises:
        UserInputError: The GT is all zero.
    """
    import numpy as np

    from basicsr_skt.utils.errors import UserInputError

    gt = np.asarray(gt)
    if gt.size == 0:
        return
    low, high = float(gt.min()), float(gt.max())
    if high == 0.0 and low == 0.0:
        raise UserInputError(f'Scene {scene!r}: GT {path} is all zero (no radiance at all): the file is broken or '
                             'was exported empty; re-export it from the original data or remove the scene')
    if low == high:
        if logger is None:
            from basicsr.utils import get_root_logger
            logger = get_root_logger()
        logger.warning(f'Scene {scene!r}: GT {path} is constant ({low:g} everywhere); assumed intended (a flat target) '
                       'but a real capture never is: check the file')


def check_increasing(values: Sequence[float], option: str) -> List[float]:
    """A command-line list of EVs (or times) that must strictly increase: shortest exposure first, none repeated.

    Args:
        values (Sequence[float]): The values as given.
        option (str): The option, for the message (e.g. ``'--evs'``).

    Returns:
        List[float]: The values.

    Raises:
        UserInputError: Naming the option, the values and the first offending position.
    """
    from basicsr_skt.utils.errors import UserInputError

    values = [float(v) for v in values]
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            kind = 'repeats' if values[i] == values[i - 1] else 'decreases at'
            raise UserInputError(f'{option} {" ".join(f"{v:g}" for v in values)} {kind} value {i + 1}: exposures must '
                                 'strictly increase from the shortest to the longest (e.g. -2 0 2); equal exposures '
                                 'add no dynamic range')
    check_ev_spacing(values, option)
    return values
