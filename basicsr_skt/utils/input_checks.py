"""Checks of user input shared by datasets, models and scripts: unknown option keys (with a "did you mean"
suggestion), writable output folders (checked before any work is done), ``KEY=VALUE`` command-line options and
BasicSR option files read/written in order.

Imports nothing above ``basicsr_skt.utils``; the warnings go through BasicSR's root logger.
"""
import difflib
import os
import tempfile
from os import path as osp
from typing import Any, Collection, Dict, Iterable, List, Mapping, Optional, Sequence

#: Keys ``SKTModel`` reads from the ``skt:`` section of an option file.
SKT_KEYS = ('mode', 'orm_tap', 'mask', 'warmup_iter', 'ramp_iter', 'content_opt', 'colour_opt', 'skam_opt',
            'teacher_input', 'teacher_ema_decay', 'val_teacher', 'val_teacher_zeroed_priors', 'diagnostics')
#: Keys ``SKTModel`` reads from ``skt.mask``.
SKT_MASK_KEYS = ('type', 'patch_size', 'ratio_max', 'ratio_min', 'schedule', 'ramp_fraction')
#: Keys ``SKTModel`` reads from ``skt.diagnostics``.
SKT_DIAGNOSTICS_KEYS = ('grad_cosine_freq',)


def close_matches(name: str, known: Iterable[str], n: int = 3) -> List[str]:
    """Known names that look like ``name`` (``difflib.get_close_matches``, cutoff 0.6), best first."""
    return difflib.get_close_matches(str(name), sorted(set(known)), n=n)


def unknown_key_messages(section: str, options: Mapping, known: Collection[str]) -> List[str]:
    """One message per key of ``options`` that is not in ``known``, with a suggestion where one is close.

    Args:
        section: Where the keys live, for the message (e.g. ``'datasets.train'`` or ``'skt'``).
        options: The option dict as read from YAML.
        known: Every key the reader of ``options`` understands.

    Returns:
        Messages such as ``"skt: unknown key 'orm_tapp' is ignored (did you mean 'orm_tap'?)"``, in key order.
    """
    messages = []
    for key in sorted((key for key in options if key not in known), key=str):
        close = close_matches(key, known)
        hint = f' (did you mean {" or ".join(repr(c) for c in close)}?)' if close else (
            f' (known keys: {", ".join(sorted(known))})')
        messages.append(f'{section}: unknown key {key!r} is ignored{hint}')
    return messages


def warn_unknown_keys(section: str, options: Optional[Mapping], known: Collection[str], logger=None) -> List[str]:
    """Log a warning per unknown key of ``options`` (see :func:`unknown_key_messages`); returns the messages.

    Args:
        section: Name of the section in messages.
        options: The option dict (None: nothing to check).
        known: Every key the reader understands.
        logger: A ``logging.Logger``; default BasicSR's root logger.
    """
    messages = unknown_key_messages(section, options or {}, known)
    if messages:
        if logger is None:
            from basicsr.utils import get_root_logger  # imported here: utils must not import basicsr at import time
            logger = get_root_logger()
        for message in messages:
            logger.warning(message)
    return messages


def _nearest_existing(path: str) -> str:
    """``path`` or its closest existing ancestor."""
    path = osp.abspath(path)
    while not osp.lexists(path):
        parent = osp.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_writable_dir(folder: str, what: str = 'output folder') -> None:
    """Fail early, before any work, when files cannot be created in ``folder`` (created later if missing).

    The closest existing ancestor of ``folder`` must be a folder where a file can be created: a temporary file is
    made and removed there (``os.access`` alone is wrong for root and for read-only mounts).

    Args:
        folder: Where output will be written.
        what: What the folder is for, e.g. ``'LMDB output'``.

    Raises:
        PermissionError: The folder (or the ancestor it would be created in) is not writable.
        NotADirectoryError: The path, or an ancestor, is a file.
    """
    existing = _nearest_existing(folder)
    if not osp.isdir(existing):
        raise NotADirectoryError(f'Cannot write the {what} {folder}: {existing} is a file, not a folder')
    try:
        fd, probe = tempfile.mkstemp(prefix='.write-probe-', dir=existing)
    except OSError as err:
        where = folder if existing == osp.abspath(folder) else f'{folder} (it would be created in {existing})'
        raise PermissionError(
            f'Cannot write the {what} {where}: {err.strerror or err}. Choose another output folder or '
            'fix its permissions; nothing was written') from err
    os.close(fd)
    os.remove(probe)


def parse_key_values(items: Iterable[str], option: str) -> Dict[str, Any]:
    """``['embed_dim=12', 'depths=[2]']`` -> ``{'embed_dim': 12, 'depths': [2]}``, values parsed as YAML.

    Args:
        items: ``KEY=VALUE`` strings from the command line.
        option: The command-line option, for the error message (e.g. ``'--arch-opt'``).

    Raises:
        ValueError: An item without ``=`` or with an empty key.
    """
    import yaml

    opts: Dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise ValueError(f'{option} expects KEY=VALUE, got {item!r}')
        opts[key] = yaml.safe_load(value)
    return opts


def load_options_yaml(path: str) -> Dict[str, Any]:
    """A BasicSR option file as an ordered dict (BasicSR's own YAML loader, ``!!float`` tags included); a key repeated
    in one section is refused (:func:`duplicate_key_loader`)."""
    import yaml

    with open(path, 'r', encoding='utf-8') as f:
        return yaml.load(f, Loader=duplicate_key_loader(path))


def dump_options_yaml(opt: Mapping[str, Any], path: str) -> str:
    """Write ``opt`` as a BasicSR option file, keys in their order; returns ``path``."""
    import yaml

    from basicsr.utils.options import ordered_yaml

    with open(path, 'w', encoding='utf-8') as f:
        yaml.dump(opt, f, Dumper=ordered_yaml()[1])
    return path


# ----------------------------------------------------------------------------------------------------------------------
# Option files and run options (called by ``compat``'s ``parse_options`` wrapper, before and after BasicSR parses)
# ----------------------------------------------------------------------------------------------------------------------
def duplicate_key_loader(source: str, base: Optional[type] = None) -> type:
    """A YAML loader (BasicSR's ordered one by default) that refuses a key repeated in one mapping.

    PyYAML keeps the last of two equal keys silently; an option file with ``lr`` twice would train with the second.

    Args:
        source (str): The file being read, for the message.
        base (Optional[type]): Loader class to extend (default ``ordered_yaml()[0]``: OrderedDicts, ``!!float``).

    Returns:
        type: A loader class; loading raises :class:`~basicsr_skt.utils.errors.UserInputError` naming ``source``, the
        key and both lines.
    """
    import yaml

    from basicsr_skt.utils.errors import UserInputError

    if base is None:
        from basicsr.utils.options import ordered_yaml
        base = ordered_yaml()[0]
    parent = base.yaml_constructors[yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG]

    class DuplicateKeyLoader(base):
        pass

    def construct_mapping(loader, node):
        seen: Dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                raise UserInputError(
                    f'Option file {source}: key {key_node.value!r} appears twice in the same section (lines '
                    f'{seen[key_node.value]} and {line}); YAML would silently keep the second. Remove one of them')
            seen[key_node.value] = line
        return parent(loader, node)

    DuplicateKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return DuplicateKeyLoader


def read_option_file(path: str) -> Dict[str, Any]:
    """A BasicSR option file as an ordered dict, refusing duplicate keys (see :func:`duplicate_key_loader`).

    Raises:
        UserInputError: The file is missing, not valid YAML, not a mapping, or repeats a key.
    """
    import yaml

    from basicsr_skt.utils.errors import UserInputError

    if not osp.isfile(path):
        raise UserInputError(f'Option file {path} not found (-opt expects the path of a YAML file)')
    try:
        with open(path, 'r', encoding='utf-8') as f:
            opt = yaml.load(f, Loader=duplicate_key_loader(path))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise UserInputError(f'Option file {path} is not valid YAML (UTF-8 text): {err}') from err
    if not isinstance(opt, dict):
        raise UserInputError(f'Option file {path} must hold a mapping of options, got {type(opt).__name__}')
    return opt


def check_force_yml(opt: Mapping[str, Any], entries: Iterable[str], source: str) -> List[str]:
    """Check ``--force_yml KEY:SUBKEY=VALUE`` entries against the option file before BasicSR applies them.

    BasicSR creates a misspelled last key silently (``train:total_iters=10`` adds a key nobody reads) and fails with
    a bare ``KeyError`` on a misspelled section. Decision: every section on the way must exist; a last key that does
    not exist is refused when it looks like an existing key of its section (did-you-mean), and accepted as a new key
    otherwise (e.g. ``train:ema_decay=0.999``), with a warning. To add a key that looks like an existing one, write
    it in the YAML.

    Args:
        opt (Mapping[str, Any]): The option file as read (:func:`read_option_file`).
        entries (Iterable[str]): The ``--force_yml`` values.
        source (str): The option file, for messages.

    Returns:
        List[str]: The entries that add a new key (each also logged as a warning).

    Raises:
        UserInputError: An entry without exactly one ``=``, a missing section, a last key close to an existing one.
    """
    import logging

    from basicsr_skt.utils.errors import UserInputError

    added = []
    for entry in entries:
        if entry.count('=') != 1 or not entry.split('=')[0].strip():
            raise UserInputError(f'--force_yml {entry!r}: expected SECTION:KEY=VALUE with exactly one "=", e.g. '
                                 'train:total_iter=1000')
        keys = [key.strip() for key in entry.split('=')[0].split(':')]
        node: Any = opt
        for depth, key in enumerate(keys):
            where = ':'.join(keys[:depth]) or 'the top level'
            if not isinstance(node, Mapping):
                raise UserInputError(f'--force_yml {entry!r}: {where} of {source} is {node!r}, not a section with keys')
            if key in node:
                node = node[key]
                continue
            close = close_matches(key, [str(k) for k in node])
            hint = f'did you mean {" or ".join(repr(c) for c in close)}?' if close else (
                f'its keys are {", ".join(sorted(str(k) for k in node))}')
            if depth < len(keys) - 1:
                raise UserInputError(f'--force_yml {entry!r}: {source} has no section {key!r} under {where}; {hint}')
            if close:
                raise UserInputError(f'--force_yml {entry!r}: {source} has no key {key!r} under {where}; {hint} '
                                     '(to add a new key that looks like an existing one, write it in the option file)')
            message = f'--force_yml {entry!r} adds the new key {key!r} under {where} (not in {source})'
            logging.getLogger(__name__).warning(message)
            added.append(message)
    return added


def _option(opt: Mapping[str, Any], dotted: str) -> Any:
    node: Any = opt
    for key in dotted.split('.'):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _require_positive(value: Any, key: str, source: str, integer: bool, fix: str) -> None:
    from basicsr_skt.utils.errors import UserInputError

    number_types = (int, ) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, number_types) or not value > 0:
        kind = 'a positive integer' if integer else 'a positive number'
        raise UserInputError(f'Option {key} in {source} must be {kind}, got {value!r}: {fix}')


def check_run_options(opt: Mapping[str, Any], source: str, cuda_available: bool) -> None:
    """Checks of a parsed BasicSR option dict that BasicSR leaves to a crash or a silently empty run.

    * ``name``, ``datasets.<phase>.name`` and ``val.suffix`` are plain path components (they become
      ``experiments/<name>``, ``results/<name>/visualization/<dataset>/<scene>_<suffix>.hdr``).
    * ``num_gpu`` other than 0 needs CUDA.
    * Frequencies, ``total_iter``, ``batch_size_per_gpu`` and ``dataset_enlarge_ratio`` are positive (BasicSR takes
      ``iter % freq`` and divides by them: ``ZeroDivisionError`` otherwise).

    Args:
        opt (Mapping[str, Any]): Options as parsed by BasicSR (not modified).
        source (str): The option file, for messages.
        cuda_available (bool): ``torch.cuda.is_available()``.

    Raises:
        UserInputError: Naming the key, the file and the fix.
    """
    from basicsr_skt.utils.errors import UserInputError
    from basicsr_skt.utils.paths import check_name

    check_name(opt.get('name'), f"Option 'name' in {source}")
    for phase, dataset in (opt.get('datasets') or {}).items():
        if isinstance(dataset, Mapping) and dataset.get('name') is not None:
            check_name(dataset['name'], f'Option datasets.{phase}.name in {source}')  # results/<run>/<dataset name>
    suffix = _option(opt, 'val.suffix')
    if suffix is not None and suffix != '':
        check_name(str(suffix), f'Option val.suffix in {source}')  # file names <scene>_<suffix>.hdr
    num_gpu = opt.get('num_gpu', 0)
    if num_gpu is None:
        num_gpu = 0
    if not isinstance(num_gpu, int) or isinstance(num_gpu, bool) or num_gpu < 0:
        raise UserInputError(f'num_gpu in {source} must be 0 (CPU), a number of GPUs or auto, got {num_gpu!r}')
    if num_gpu != 0 and not cuda_available:
        raise UserInputError(f'num_gpu: {num_gpu} in {source}, but no CUDA GPU is available here '
                             '(torch.cuda.is_available() is False): set num_gpu: 0 in the option file, or add '
                             '--force_yml num_gpu=0, to run on the CPU')
    is_train = opt.get('is_train', True)
    keys = ['logger.print_freq', 'logger.save_checkpoint_freq']
    if is_train:
        keys.append('train.total_iter')
        if opt.get('val') is not None:
            keys.append('val.val_freq')
    for key in keys:
        value = _option(opt, key)
        if value is not None or key == 'train.total_iter':
            _require_positive(
                value,
                key,
                source,
                integer=False,
                fix='BasicSR takes the iteration modulo or divided by '
                'it, so 0 would crash the run (ZeroDivisionError) or train nothing')
    for name, dataset in (opt.get('datasets') or {}).items():
        if not is_train or not isinstance(dataset, Mapping) or str(name).split('_')[0] != 'train':
            continue
        _require_positive(
            dataset.get('batch_size_per_gpu'),
            f'datasets.{name}.batch_size_per_gpu',
            source,
            integer=True,
            fix='the number of training samples per GPU and iteration')
        _require_positive(
            dataset.get('dataset_enlarge_ratio', 1),
            f'datasets.{name}.dataset_enlarge_ratio',
            source,
            integer=False,
            fix='how many times the dataset is repeated per epoch (default 1); 0 makes '
            'every epoch empty')


def check_checkpoint_file(path: str, what: str) -> str:
    """Refuse a file that cannot be a PyTorch checkpoint (cheap: its container format, not its contents).

    ``torch.save`` writes a zip archive (or, before torch 1.6, a pickle): anything else (a text file, a truncated
    download, an image) would only fail deep inside ``torch.load`` with a message that does not name the file.

    Args:
        path (str): The file.
        what (str): The option that names it (e.g. ``'path.pretrain_network_g'``).

    Returns:
        str: ``path`` unchanged.

    Raises:
        UserInputError: Missing, a folder, empty, or neither a zip archive nor a pickle.
    """
    import zipfile

    from basicsr_skt.utils.errors import UserInputError

    if not osp.exists(path):
        raise UserInputError(f'{what}: checkpoint {path} not found')
    if osp.isdir(path):
        raise UserInputError(f'{what}: {path} is a folder; give the .pth file (e.g. '
                             '<experiment>/models/net_g_latest.pth)')
    with open(path, 'rb') as f:
        head = f.read(2)
    if zipfile.is_zipfile(path) or (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
        return path
    size = osp.getsize(path)
    raise UserInputError(f'{what}: {path} ({size} bytes) is not a PyTorch checkpoint (neither a torch.save zip archive '
                         'nor a pickle; truncated, or another kind of file?): give a net_*.pth file saved by torch')


# ----------------------------------------------------------------------------------------------------------------------
# Physically impossible scenes (dataset reading, LMDB packing, inference on brackets)
# ----------------------------------------------------------------------------------------------------------------------
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
    return values
