"""Running trained ORMs: one inference path for validation, scripts and benchmarks, and reading real brackets.

Sits above ``utils/`` and ``skb/`` and below ``models/``; registers nothing.

* :mod:`~basicsr_skt.inference.orm`: :func:`forward_frames`, :func:`run_orm` (the one pad-or-tile dispatch),
  :func:`predict` (one bracket, no gradients, result on the CPU), :func:`expected_frames`, :func:`resolve_device`.
* :mod:`~basicsr_skt.inference.weights`: :func:`load_weights`, the one checkpoint loader, and :func:`build_orm`
  (a registered arch with its weights).
* :mod:`~basicsr_skt.inference.brackets`: frames and exposure times of real brackets (:func:`read_bracket`).
* :mod:`~basicsr_skt.inference.exif`: EXIF exposure time, orientation and settings of the frames.
* :mod:`~basicsr_skt.inference.display`: μ-law / Reinhard display images, the comparison strip, PNG files.

The network input ``concat(L ** gamma / t, L)`` is :func:`basicsr_skt.utils.hdr_io.network_input` (the datasets
build it too).
"""
from basicsr_skt.inference.brackets import (EV_ORIGINS, LDR_SUFFIXES, NOT_FRAME_PATTERNS, Bracket, is_not_frame,
                                            list_frames, parse_exposure_time, parse_response, read_bracket)
from basicsr_skt.inference.display import comparison_strip, log_average_luminance, mu_law_display, reinhard, write_png
from basicsr_skt.inference.exif import EXIF_TAGS, apply_orientation, exposure_settings_warning, read_exif
from basicsr_skt.inference.orm import (DEFAULT_TILE_OVERLAP, expected_frames, forward_frames, predict, resolve_device,
                                       run_orm)
from basicsr_skt.inference.weights import AUTO_KEY, build_orm, load_weights, registered_arch

__all__ = [
    'DEFAULT_TILE_OVERLAP', 'forward_frames', 'run_orm', 'predict', 'expected_frames', 'resolve_device', 'AUTO_KEY',
    'load_weights', 'registered_arch', 'build_orm',
    'LDR_SUFFIXES', 'EV_ORIGINS', 'NOT_FRAME_PATTERNS', 'Bracket', 'parse_exposure_time', 'parse_response',
    'list_frames', 'is_not_frame', 'read_bracket', 'EXIF_TAGS', 'read_exif', 'apply_orientation',
    'exposure_settings_warning', 'log_average_luminance', 'mu_law_display', 'reinhard', 'comparison_strip', 'write_png'
]
