"""Checks of user input shared by datasets, models and scripts: unknown option keys (with a "did you mean"
suggestion), writable output folders (checked before any work is done), ``KEY=VALUE`` command-line options and
BasicSR option files read/written in order.

Imports nothing above ``basicsr_skt.utils``; the warnings go through BasicSR's root logger.
"""
import difflib
import os
import tempfile
from os import path as osp
from typing import Any, Collection, Dict, Iterable, List, Mapping, Optional

#: Keys ``SKTModel`` reads from the ``skt:`` section of an option file.
SKT_KEYS = ('mode', 'orm_tap', 'skam', 'mask', 'warmup_iter', 'ramp_iter', 'content_opt', 'colour_opt', 'skam_opt')
#: Keys ``SKTModel`` reads from ``skt.mask``.
SKT_MASK_KEYS = ('type', 'patch_size', 'ratio_max', 'schedule', 'ramp_fraction')


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
    """A BasicSR option file as an ordered dict (BasicSR's own YAML loader, ``!!float`` tags included)."""
    import yaml

    from basicsr.utils.options import ordered_yaml

    with open(path, 'r', encoding='utf-8') as f:
        return yaml.load(f, Loader=ordered_yaml()[0])


def dump_options_yaml(opt: Mapping[str, Any], path: str) -> str:
    """Write ``opt`` as a BasicSR option file, keys in their order; returns ``path``."""
    import yaml

    from basicsr.utils.options import ordered_yaml

    with open(path, 'w', encoding='utf-8') as f:
        yaml.dump(opt, f, Dumper=ordered_yaml()[1])
    return path
