"""Output paths that cannot land on an input, inside an input tree, or outside the folder the user named.

Rules (``docs/bad-inputs.md``, "Outputs"): an output never overwrites a file that is read, never lands inside a folder
that is scanned as input (where the next run would read it), and a name used to build a path (a run ``name``, a
``--name``, a scene name) is one plain path component: never empty, ``.``, ``..``, absolute, or holding a separator.
Paths are compared after resolving symbolic links (``os.path.realpath``), and files also by identity
(``os.path.samefile``: hard links).

Imports nothing above ``basicsr_skt.utils``.
"""
import os
import os.path as osp
import unicodedata
from typing import Iterable, Optional

from basicsr_skt.utils.errors import UserInputError

#: Characters that cannot appear in a name used as one path component.
SEPARATORS = tuple(sep for sep in ('/', '\\', os.sep, os.altsep or '') if sep)


def check_name(name: object, what: str) -> str:
    """``name`` if it is one plain path component, else a :class:`UserInputError` naming ``what``.

    Args:
        name (object): The name, e.g. a run name from YAML or a ``--name`` value.
        what (str): Where it comes from, for the message (e.g. ``"option 'name' of <file>"``).

    Returns:
        str: ``name`` unchanged.

    Every name that comes from data or from a user and becomes part of a path goes through here: scene names read from
    an LMDB's ``meta_info.txt`` or from folders, run and dataset names, ``--name`` / ``--dataset`` arguments.

    Raises:
        UserInputError: Not a string, empty, ``.`` or ``..``, absolute, holding a path separator, a NUL byte or
            another control character (a newline, an escape sequence: they corrupt logs and tables, and no tool
            writes them in a file name).
    """
    if not isinstance(name, str) or not name.strip():
        raise UserInputError(f'{what} must be a non-empty name, got {name!r}')
    problem = None
    if name in ('.', '..'):
        problem = 'is a relative folder reference'
    elif osp.isabs(name) or any(sep in name for sep in SEPARATORS):
        problem = 'holds a path separator'
    elif '\0' in name:
        problem = 'holds a NUL byte'
    elif any(unicodedata.category(ch) == 'Cc' for ch in name):
        problem = 'holds a control character'
    if problem:
        raise UserInputError(f'{what} {name!r} {problem}: it is used as a file or folder name, so it must be one plain '
                             "name (no '/', '\\', '..'), e.g. " + repr(_plain(name)))
    return name


def _plain(name: str) -> str:
    """A suggestion: ``name`` with separators and dot-only parts replaced."""
    printable = ''.join(ch if unicodedata.category(ch) != 'Cc' else '_' for ch in name)
    parts = [part for part in printable.replace('\\', '/').split('/') if part.strip('.')]
    return '_'.join(parts) or 'run'


def safe_join(root: str, name: object, what: str) -> str:
    """``os.path.join(root, name)`` after :func:`check_name`: the result is always directly inside ``root``.

    Args:
        root (str): The folder the user named.
        name (object): One path component.
        what (str): Where ``name`` comes from, for the message.

    Returns:
        str: The joined path.

    Raises:
        UserInputError: ``name`` is not one plain path component.
    """
    return osp.join(root, check_name(name, what))


def _real(path: str) -> str:
    return osp.realpath(osp.abspath(path))


def is_within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (symbolic links resolved; neither needs to exist)."""
    path, folder = _real(path), _real(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _same_file(a: str, b: str) -> bool:
    if _real(a) == _real(b):
        return True
    try:
        return osp.exists(a) and osp.exists(b) and osp.samefile(a, b)
    except OSError:
        return False


def check_output_path(out: str,
                      inputs: Iterable[str] = (),
                      input_trees: Iterable[str] = (),
                      what: str = 'output',
                      hint: Optional[str] = None) -> str:
    """Refuse an output that would overwrite an input file, or land in a folder that is scanned as input.

    Args:
        out (str): The output file or folder.
        inputs (Iterable[str]): Files (or folders) that are read: ``out`` must not be one of them.
        input_trees (Iterable[str]): Folders scanned for input: ``out`` must not be one of them or lie inside one.
        what (str): The option that names ``out``, for the message (e.g. ``'--out'``).
        hint (Optional[str]): The fix, appended to the message (default: choose another path).

    Returns:
        str: ``out`` unchanged.

    Raises:
        UserInputError: Naming ``out``, the input it collides with and the fix.
    """
    fix = hint or f'choose a {what} outside the inputs'
    for path in inputs:
        if _same_file(out, path):
            raise UserInputError(f'{what} {out} is the input {path}: writing it would overwrite an input; {fix}')
    for tree in input_trees:
        if is_within(out, tree):
            where = 'is' if _real(out) == _real(tree) else 'lies inside'
            raise UserInputError(f'{what} {out} {where} the input folder {tree}: what is written there would be read '
                                 f'as input by the next run (or overwrite it); {fix}')
    return out
