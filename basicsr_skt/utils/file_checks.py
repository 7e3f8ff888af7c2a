"""Checks of the files and folders a user names, made before any work is done: output folders must be writable,
and a file given as a checkpoint must be one.

Imports nothing above ``basicsr_skt.utils``.
"""
import os
import tempfile
import zipfile
from os import path as osp

#: How a damaged checkpoint is fixed, for the messages.
CHECKPOINT_HINT = ('the file was changed after it was saved (a damaged disk or an incomplete or altered transfer): '
                   'copy or download it again, or use an earlier checkpoint')


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
    if zipfile.is_zipfile(path):
        return verify_checkpoint(path, what)
    if len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return path
    size = osp.getsize(path)
    raise UserInputError(f'{what}: {path} ({size} bytes) is not a PyTorch checkpoint (neither a torch.save zip archive '
                         'nor a pickle; truncated, or another kind of file?): give a net_*.pth file saved by torch')


def verify_checkpoint(path: str, what: str = 'checkpoint') -> str:
    """Check every record of a ``torch.save`` zip archive against the CRC-32 stored with it, before it is loaded.

    ``torch.load`` does not check the checksums, so a checkpoint with changed bytes loads silently with wrong weights.
    Each record (``data.pkl``, every tensor's storage) is read once and its CRC-32 compared with the archive's central
    directory (Python's ``zipfile``); the cost is one read of the file (docs/bad-inputs.md gives the measured time).
    Files in the legacy pickle format (torch < 1.6) carry no checksum, and a zip archive whose directory cannot be
    read (cut short) is left to ``torch.load``, whose error the loaders already report: both are returned unchecked.

    Args:
        path (str): The checkpoint file (``.pth``, ``.state``).
        what (str): What it is, for the message (e.g. ``'path.pretrain_network_g in <opt.yml>'``).

    Returns:
        str: ``path`` unchanged.

    Raises:
        UserInputError: A record whose bytes do not match its CRC-32 or that is cut short; the message names the
            file and the record.
    """
    from basicsr_skt.utils.errors import UserInputError

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return path  # not a zip archive (legacy pickle), or one whose directory is cut: torch.load reports it
    with archive:
        for info in archive.infolist():
            try:
                with archive.open(info) as record:
                    while record.read(1 << 22):
                        pass
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:
                raise UserInputError(f'{what}: checkpoint {path} is damaged: record {info.filename!r} ({err}); '
                                     f'{CHECKPOINT_HINT}') from None
    return path
