"""The option sections the plugin's models own, each parsed once, in the model's constructor, into a frozen dataclass.

======================  ============================  ====================================================
section                 class                         parsed by
======================  ============================  ====================================================
``val`` (plugin keys)   :class:`ValOptions`           :class:`~basicsr_skt.models.hdr_model.HDRModel`
``skt``                 :class:`SKTOptions`           :class:`~basicsr_skt.models.skt_model.SKTModel`
``skt.mask``            :class:`MaskOptions`          (sub-section of ``skt``)
``skt.diagnostics``     :class:`DiagnosticsOptions`   (sub-section of ``skt``)
======================  ============================  ====================================================

The fields are the keys and their defaults (each written here once); a key nobody reads gets a warning with a
suggestion, a value out of range a user error that names the valid range, a renamed key a user error naming the new
one (:mod:`basicsr_skt.utils.option_sections`). The option dict itself is never modified.
"""
import dataclasses
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple, Union

from basicsr_skt.inference.orm import DEFAULT_TILE_OVERLAP
from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.option_checks import SKT_DISTILL_SECTIONS
from basicsr_skt.utils.option_sections import (OptionSection, check_bool, check_choice, check_mapping,
                                               check_number)
from basicsr_skt.utils.schedules import MASK_RATIO_MODES
from basicsr_skt.utils.tonemap import DEFAULT_MU

#: ``skt.mode``: train ORM and teacher together, the teacher alone (frozen ORM), or the ORM from a trained teacher.
MODES = ('joint', 'staged_teacher', 'staged_student')
#: What SPGRM sees besides sg[T(f_O)] and the SKB: the reference frame's input channels, or all frames' (set
#: ``network_t.ref_channels`` to N x 6 for the latter).
TEACHER_INPUTS = ('reference', 'all_frames')
#: ``skt.mask.type``: square patches of latent cells, or whole SKB segments.
MASK_TYPES = ('random_patch', 'semantic')
#: Keys of the ``val`` section that BasicSR itself reads (not fields of :class:`ValOptions`).
BASICSR_VAL_KEYS = ('val_freq', 'save_img', 'suffix', 'pbar', 'metrics')
#: Distillation terms: (section under ``skt``, log name).
DISTILL_SECTIONS = tuple(zip(SKT_DISTILL_SECTIONS, ('l_content', 'l_colour', 'l_skam')))
#: The error for configs written before SKAM followed BasicSR's ``network_<x>`` convention.
MOVED_SKAM_KEY = ('skt.skam is no longer read: the SKAM heads are the top-level section network_skam (BasicSR\'s '
                  'network_<x> convention, with path.pretrain_network_skam and path.strict_load_skam). Move the block '
                  'out of skt: and rename it, e.g. "network_skam: {type: SKAM, orm_channels: 60, ...}" '
                  '(docs/skt.md, "Configs before network_skam")')
#: The error for configs written before ``skt.warmup_iter`` was renamed (it shared its name with BasicSR's
#: ``train.warmup_iter``, the learning-rate warm-up).
MOVED_WARMUP_KEY = ('skt.warmup_iter is no longer read: it is now skt.distill_warmup_iter (the iteration at which '
                    'distillation starts; train.warmup_iter stays BasicSR\'s learning-rate warm-up). Rename the key '
                    'in the skt: section of the option file, e.g. "distill_warmup_iter: 100" (docs/skt.md, '
                    '"Options")')


@dataclasses.dataclass(frozen=True)
class ValOptions(OptionSection):
    """The plugin's keys of ``val`` (BasicSR's own: :data:`BASICSR_VAL_KEYS`).

    Attributes:
        mu: μ of the tone-mapped PNGs, figures and tensorboard images (> 0).
        pad_multiple: Reflect-pad the frames to this multiple before the network (1: the arch pads itself).
        tile: Tile side for memory-bounded inference on overlapping tiles blended without seams; None: whole image.
        tile_overlap: Minimum overlap of neighbouring tiles in pixels (< ``tile``).
        save_exr: Also write each prediction as float32 OpenEXR next to the ``.hdr``.
        figure_scenes: Scenes that get a comparison figure: scene names, or a count N (the first N scenes); None: none.
        num_tb_images: Scenes logged to tensorboard.
    """

    SECTION = 'val'
    EXTRA_KEYS = BASICSR_VAL_KEYS

    mu: float = DEFAULT_MU
    pad_multiple: int = 1
    tile: Optional[int] = None
    tile_overlap: int = DEFAULT_TILE_OVERLAP
    save_exr: bool = False
    figure_scenes: Union[None, int, Tuple[str, ...]] = None
    num_tb_images: int = 2

    def __post_init__(self):
        check_number(self, 'mu', low=0, low_open=True)
        check_number(self, 'pad_multiple', low=1, integer=True)
        if self.tile is not None:
            check_number(self, 'tile', low=1, integer=True)
        check_number(self, 'tile_overlap', low=0, high=self.tile, high_open=True, integer=True)
        check_bool(self, 'save_exr')
        check_number(self, 'num_tb_images', low=0, integer=True)
        scenes = self.figure_scenes
        if isinstance(scenes, (list, tuple)) and all(isinstance(name, str) for name in scenes):
            self.replace_value('figure_scenes', tuple(scenes))
        elif scenes is not None:
            if isinstance(scenes, bool) or not isinstance(scenes, int):
                raise UserInputError(f'Option val.figure_scenes must be a list of scene names or a count, got '
                                     f'{scenes!r}')
            check_number(self, 'figure_scenes', low=0, integer=True)

    def wants_figure(self, scene: str, index: int) -> bool:
        """Whether :attr:`figure_scenes` selects the ``index``-th validation scene ``scene``."""
        if self.figure_scenes is None:
            return False
        if isinstance(self.figure_scenes, int):
            return index < self.figure_scenes
        return scene in self.figure_scenes


@dataclasses.dataclass(frozen=True)
class MaskOptions(OptionSection):
    """``skt.mask``: the SKAM keep-mask and its ratio schedule.

    Attributes:
        type: ``random_patch`` (square patches of ``patch_size`` latent cells) or ``semantic`` (whole SKB segments).
        patch_size: Patch side in latent cells (>= 1; keep it <= the SKAM generator's reach).
        ratio_min: Mask ratio at the start of the distillation period, in [0, ``ratio_max``].
        ratio_max: Final mask ratio, in [0, 1].
        schedule: ``linear`` (``ratio_min`` -> ``ratio_max``) or ``constant`` (``ratio_max`` throughout).
        ramp_fraction: Fraction of the distillation period (``distill_warmup_iter`` .. ``total_iter``) over which the
            linear ramp runs, in [0, 1].
    """

    SECTION = 'skt.mask'

    type: str = 'random_patch'
    patch_size: int = 8
    ratio_min: float = 0.0
    ratio_max: float = 0.5
    schedule: str = 'linear'
    ramp_fraction: float = 0.5

    def __post_init__(self):
        check_choice(self, 'type', MASK_TYPES)
        check_number(self, 'patch_size', low=1, integer=True)
        check_number(self, 'ratio_max', low=0, high=1)
        check_number(self, 'ratio_min', low=0, high=self.ratio_max)
        check_choice(self, 'schedule', MASK_RATIO_MODES)
        check_number(self, 'ramp_fraction', low=0, high=1)


@dataclasses.dataclass(frozen=True)
class DiagnosticsOptions(OptionSection):
    """``skt.diagnostics``.

    Attributes:
        grad_cosine_freq: Every N iterations, log the cosine of each distillation term's gradient with the
            reconstruction gradient on the ORM's parameters (``cos_<term>``, ``gnr_<term>``); 0: off.
    """

    SECTION = 'skt.diagnostics'

    grad_cosine_freq: int = 0

    def __post_init__(self):
        check_number(self, 'grad_cosine_freq', low=0, integer=True)


@dataclasses.dataclass(frozen=True)
class SKTOptions(OptionSection):
    """``skt``: how the SKT model trains (see :class:`~basicsr_skt.models.skt_model.SKTModel` and docs/skt.md).

    Attributes:
        mode: One of :data:`MODES`.
        orm_tap: ORM module names whose outputs SKAM reads (``name:input``: the module's input); a single name in
            YAML becomes a 1-tuple; None: no tap (required with ``skam_opt``).
        mask: ``skt.mask``.
        distill_warmup_iter: Iterations with the distillation weight at 0 (the teacher learns first), >= 0.
        ramp_iter: Length of the linear ramp of the distillation weight after the warm-up, >= 0.
        content_opt, colour_opt, skam_opt: The distillation losses (``type``, ``loss_weight``, ...); None: off.
        teacher_input: One of :data:`TEACHER_INPUTS`.
        teacher_ema_decay: > 0 (joint mode only): distil from an EMA copy of the teacher; in [0, 1).
        val_teacher: Score the teacher at validation when the batches allow.
        val_teacher_zeroed_priors: Also score the teacher with its priors zeroed (``teacher0_<metric>``).
        diagnostics: ``skt.diagnostics``.
    """

    SECTION = 'skt'
    MOVED = {'skam': MOVED_SKAM_KEY, 'warmup_iter': MOVED_WARMUP_KEY}

    mode: str = 'joint'
    orm_tap: Optional[Tuple[str, ...]] = None
    mask: MaskOptions = dataclasses.field(default_factory=MaskOptions)
    distill_warmup_iter: int = 0
    ramp_iter: int = 0
    content_opt: Optional[Dict[str, Any]] = None
    colour_opt: Optional[Dict[str, Any]] = None
    skam_opt: Optional[Dict[str, Any]] = None
    teacher_input: str = 'reference'
    teacher_ema_decay: float = 0.0
    val_teacher: bool = True
    val_teacher_zeroed_priors: bool = False
    diagnostics: DiagnosticsOptions = dataclasses.field(default_factory=DiagnosticsOptions)

    def __post_init__(self):
        check_choice(self, 'mode', MODES)
        check_choice(self, 'teacher_input', TEACHER_INPUTS)
        if isinstance(self.orm_tap, str):
            self.replace_value('orm_tap', (self.orm_tap, ))
        elif self.orm_tap is not None:
            if not isinstance(self.orm_tap, (list, tuple)) or not all(isinstance(n, str) for n in self.orm_tap):
                raise UserInputError(f'Option skt.orm_tap must be an ORM module name or a list of names, got '
                                     f'{self.orm_tap!r}')
            self.replace_value('orm_tap', tuple(self.orm_tap) or None)
        check_number(self, 'distill_warmup_iter', low=0, integer=True)
        check_number(self, 'ramp_iter', low=0, integer=True)
        for section, _ in DISTILL_SECTIONS:
            check_mapping(self, section)
        check_number(self, 'teacher_ema_decay', low=0, high=1, high_open=True)
        if self.teacher_ema_decay > 0 and self.mode != 'joint':
            raise UserInputError('skt.teacher_ema_decay needs skt.mode joint (a staged teacher does not move): set '
                                 'it to 0 or use mode joint')
        check_bool(self, 'val_teacher')
        check_bool(self, 'val_teacher_zeroed_priors')

    @property
    def trains_teacher(self) -> bool:
        """Whether the teacher (``net_t``) is optimised: ``joint`` and ``staged_teacher``."""
        return self.mode in ('joint', 'staged_teacher')

    @property
    def trains_student(self) -> bool:
        """Whether the ORM (``net_g``) is optimised in training: ``joint`` and ``staged_student``."""
        return self.mode in ('joint', 'staged_student')

    @property
    def trains_skam(self) -> bool:
        """Whether SKAM heads (``net_skam``) are built and saved: ``skam_opt`` set in a mode that trains the ORM."""
        return bool(self.skam_opt) and self.trains_student

    def distill_losses(self) -> 'OrderedDict[str, Dict[str, Any]]':
        """Log name -> loss options of each configured distillation term, in :data:`DISTILL_SECTIONS` order."""
        return OrderedDict((log_name, getattr(self, section)) for section, log_name in DISTILL_SECTIONS
                           if getattr(self, section))
