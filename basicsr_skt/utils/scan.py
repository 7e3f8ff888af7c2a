"""Folder scans: import every suffix-named module of a sub-package, like BasicSR's own ``__init__`` files do, and the
natural file-name order in which scenes and frames are listed."""
import importlib
import os
import re
from os import path as osp
from typing import List


def import_modules_with_suffix(package_file: str, package_name: str, suffix: str) -> List[object]:
    """Import ``<package_name>.<stem>`` for every ``*<suffix>.py`` beside ``package_file``.

    Args:
        package_file: ``__file__`` of the package's ``__init__.py``.
        package_name: Dotted name of the package, e.g. ``'basicsr_skt.archs'``.
        suffix: File-name suffix without extension, e.g. ``'_arch'``.

    Returns:
        The imported modules, sorted by file name (imports are deterministic).
    """
    folder = osp.dirname(osp.abspath(package_file))
    stems = sorted(osp.splitext(name)[0] for name in os.listdir(folder) if name.endswith(f'{suffix}.py'))
    return [importlib.import_module(f'{package_name}.{stem}') for stem in stems]


def natural_key(text: str, ignore_case: bool = False) -> List[object]:
    """Sort key that orders ``input_2`` before ``input_10``: digit runs compare as integers, the rest as text.

    Args:
        text: A file or folder name.
        ignore_case: Compare the text parts lower-cased (frames picked from a folder by the user); the datasets keep
            the exact case.

    Returns:
        Alternating text and integer parts, ``['input_', 2, '.tif']``.
    """
    parts = re.split(r'(\d+)', text)
    return [int(part) if part.isdigit() else (part.lower() if ignore_case else part) for part in parts]
