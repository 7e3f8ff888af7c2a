"""Paths as the research records write them: relative to the repository, never a folder of one machine.

The research scripts run from the repository root (``python -m research.<module>``), so a path relative to the root
is also one the recorded command accepts again on any checkout.
"""
import os.path as osp
from typing import List, Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def repo_relative(path: str) -> str:
    """``path`` relative to the repository root when it is absolute (a folder beside the checkout -> ``../folder``),
    else as given.

    Args:
        path: A file or folder path as the user gave it.

    Returns:
        A POSIX-style path for reports: an absolute path made relative to the repository (with ``..`` where it lies
        outside), a relative one unchanged (it is already relative to the root the scripts run from).
    """
    if not osp.isabs(path):
        return path
    try:
        return osp.relpath(path, REPO).replace(osp.sep, '/')
    except ValueError:  # another drive (Windows): nothing relative exists
        return path


def portable_argv(argv: Sequence[str]) -> List[str]:
    """The command-line arguments with every absolute path made repository-relative (:func:`repo_relative`),
    ``--flag=/abs/path`` included."""
    out = []
    for arg in argv:
        flag, sep, value = arg.partition('=') if arg.startswith('--') else ('', '', arg)
        out.append(flag + sep + repo_relative(value) if value else arg)
    return out
