"""User errors versus bugs at the command line: one clear block for the first, the traceback for the second.

A *user error* is a bad option, a bad file or a bad name: the message says what is wrong, which file or key, and the
fix, so a 35-line chained traceback only hides it. It is either a :class:`UserInputError` raised anywhere, or an
exception raised by an explicit ``raise`` statement of this project's code (``basicsr_skt/`` and ``scripts/``: the
checks documented in ``docs/bad-inputs.md``), except ``AssertionError`` and ``NotImplementedError``. Everything else
(an error inside torch, numpy or BasicSR, or a ``KeyError`` from a dict lookup in our code) is treated as a bug and
keeps its traceback.

:func:`run_cli` wraps an entry point: a user error prints ``error: <message>`` plus a hint line to stderr and exits with
:data:`USER_ERROR_EXIT` (2); ``--debug`` on the command line or ``BASICSR_SKT_DEBUG=1`` re-raises it with the traceback.

Imports nothing above ``basicsr_skt.utils``.
"""
import linecache
import os
import os.path as osp
import sys
from types import TracebackType
from typing import Callable, List, Optional, Sequence

#: Exit status of a command stopped by a user error (argparse uses 2 for usage errors, too).
USER_ERROR_EXIT = 2
#: Environment variable that makes user errors show their traceback.
DEBUG_ENV = 'BASICSR_SKT_DEBUG'
#: Folders whose explicit ``raise`` statements are checks of user input.
PROJECT_DIRS = tuple(
    osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), folder) + os.sep
    for folder in ('basicsr_skt', 'scripts'))
#: Exception types that are never user errors, even when our code raises them.
BUG_TYPES = (AssertionError, NotImplementedError)


class UserInputError(ValueError):
    """A bad option, file or name given by the user; the message names it and says how to fix it.

    A ``ValueError`` so that callers that already catch ``ValueError`` from our checks keep working.
    """


def _innermost(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb


def raised_by_project_check(err: BaseException) -> bool:
    """Whether ``err`` was raised by an explicit ``raise`` statement in ``basicsr_skt/`` or ``scripts/``.

    Args:
        err (BaseException): A caught exception (with its ``__traceback__``).

    Returns:
        bool: True when the innermost frame of its traceback is a ``raise`` line of this project's code.
    """
    tb = _innermost(err.__traceback__)
    if tb is None:
        return False
    filename = osp.abspath(tb.tb_frame.f_code.co_filename)
    if not filename.startswith(PROJECT_DIRS):
        return False
    return linecache.getline(filename, tb.tb_lineno).lstrip().startswith('raise ')


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` is a user error (see the module docstring) rather than a bug.

    Args:
        err (BaseException): A caught exception.

    Returns:
        bool: True for a :class:`UserInputError`, or a non-bug exception raised by one of our checks.
    """
    if isinstance(err, UserInputError):
        return True
    if not isinstance(err, Exception) or isinstance(err, BUG_TYPES):
        return False
    return raised_by_project_check(err)


def error_message(err: BaseException) -> str:
    """The message of ``err`` as the user should read it (a ``KeyError``'s message without the quotes repr adds)."""
    if isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str):
        return err.args[0]
    return str(err) or type(err).__name__


def format_user_error(err: BaseException) -> str:
    """The block printed for a user error: the message, then how to see the traceback.

    Args:
        err (BaseException): A user error.

    Returns:
        str: ``'error: <message>\\n(<type>; run with --debug or BASICSR_SKT_DEBUG=1 for the traceback)'``.
    """
    return (f'error: {error_message(err)}\n'
            f'({type(err).__name__}; run with --debug or {DEBUG_ENV}=1 for the traceback)')


def debug_requested(argv: Sequence[str]) -> bool:
    """Whether ``--debug`` is in ``argv`` or ``BASICSR_SKT_DEBUG`` is set to a true value."""
    return '--debug' in argv or os.environ.get(DEBUG_ENV, '').strip().lower() in ('1', 'true', 'yes', 'on')


def run_cli(main: Callable[[], Optional[int]], argv: Optional[Sequence[str]] = None) -> int:
    """Run an entry point; a user error becomes one block on stderr and exit status 2.

    Args:
        main (Callable[[], Optional[int]]): The entry point; its return value (None = 0) is the exit status.
        argv (Optional[Sequence[str]]): The command-line arguments to look for ``--debug`` in (default
            ``sys.argv[1:]``).

    Returns:
        int: The exit status: ``main``'s, or :data:`USER_ERROR_EXIT` after a user error.

    Raises:
        BaseException: Bugs, ``SystemExit`` and ``KeyboardInterrupt`` unchanged; user errors too when debugging.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        status = main()
    except Exception as err:  # noqa: BLE001  (sorted into user errors and bugs below)
        if debug_requested(argv) or not is_user_error(err):
            raise
        print(format_user_error(err), file=sys.stderr, flush=True)
        return USER_ERROR_EXIT
    return 0 if status is None else int(status)


def strip_debug_flag(argv: Optional[Sequence[str]] = None) -> List[str]:
    """``argv`` (default ``sys.argv[1:]``) without ``--debug``, for scripts whose own parser does not know it."""
    return [arg for arg in (sys.argv[1:] if argv is None else argv) if arg != '--debug']
