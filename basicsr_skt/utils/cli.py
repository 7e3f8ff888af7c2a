"""Command-line options backed by a dataclass: one ``--field-name`` per field, typed and defaulted from the field.

A script lists the fields it exposes with their help text (or a dict of ``argparse`` keyword arguments for
``choices`` / ``metavar``), adds them with :func:`add_dataclass_arguments` and builds the dataclass back from the
parsed arguments with :func:`dataclass_from_args`::

    OPTIONS = {'max_size': 'longest side in pixels', 'object_speed': 'px per frame step'}
    add_dataclass_arguments(parser, BracketConfig(), OPTIONS)
    config = dataclass_from_args(BracketConfig, parser.parse_args(), OPTIONS)

Supported field types: ``int``, ``float``, ``str``, ``Tuple[X, ...]`` (``nargs='+'``), ``Tuple[X, X]`` (``nargs=2``)
and ``Optional`` of those (default None); a ``bool`` field that defaults to False is a flag (``store_true``).
Range-checking ``type`` callables (:func:`ranged`, :data:`positive_int`, :data:`non_negative_int`) live here too (the
``--device`` resolver is :func:`basicsr_skt.inference.resolve_device`). Imports nothing above ``basicsr_skt.utils``.
"""
import argparse
import math
import typing
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Type, TypeVar, Union

T = TypeVar('T')
#: Help text, or ``argparse.add_argument`` keyword arguments (with ``help``) that override the inferred ones.
OptionSpec = Union[str, Mapping[str, Any]]


def _field_arguments(hint: Any, default: Any) -> Dict[str, Any]:
    """``type`` / ``nargs`` / ``default`` of the option for a field with type ``hint`` and value ``default``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union:
        inner = [arg for arg in args if arg is not type(None)]
        if len(inner) != 1:
            raise TypeError(f'Unsupported option type {hint}')
        return _field_arguments(inner[0], default)
    if origin is tuple:
        variable = len(args) == 2 and args[1] is Ellipsis
        if not args or not (variable or len(set(args)) == 1):
            raise TypeError(f'Unsupported option type {hint}')
        return {
            'type': args[0],
            'nargs': '+' if variable else len(args),
            'default': None if default is None else list(default)
        }
    if hint in (int, float, str):
        return {'type': hint, 'default': default}
    if hint is bool and default is False:
        return {'action': 'store_true', 'default': False}
    raise TypeError(f'Unsupported option type {hint}')


def add_dataclass_arguments(parser: argparse.ArgumentParser,
                            defaults: Any,
                            options: Mapping[str, OptionSpec],
                            ranges: Optional[Mapping[str, Callable[[str], Any]]] = None) -> None:
    """Add ``--field-name`` to ``parser`` for each field named in ``options``, in that order.

    Args:
        parser: The parser (or argument group) to extend.
        defaults: An instance of the dataclass; its values are the defaults.
        options: Field name -> help text, or -> ``add_argument`` keyword arguments overriding the inferred ``type``,
            ``nargs`` and ``default`` (e.g. ``{'choices': RESPONSES, 'help': ...}``).
        ranges: Field name -> a range-checking ``type`` (:func:`ranged`), applied to each value of the field.
    """
    hints = typing.get_type_hints(type(defaults))
    for name, spec in options.items():
        kwargs = _field_arguments(hints[name], getattr(defaults, name))
        if ranges and name in ranges:
            kwargs['type'] = ranges[name]
        kwargs.update({'help': spec} if isinstance(spec, str) else spec)
        parser.add_argument('--' + name.replace('_', '-'), **kwargs)


def dataclass_from_args(cls: Type[T], args: argparse.Namespace, names: Iterable[str]) -> T:
    """``cls(**{name: args.name})`` for the ``names`` added by :func:`add_dataclass_arguments` (lists become tuples);
    other fields keep their defaults."""
    values = {name: getattr(args, name) for name in names}
    return cls(**{name: tuple(value) if isinstance(value, list) else value for name, value in values.items()})


def ranged(kind: Callable[[str], Any],
           low: Optional[float] = None,
           high: Optional[float] = None,
           low_open: bool = False,
           what: str = '') -> Callable[[str], Any]:
    """An ``argparse`` ``type`` that parses with ``kind`` and refuses values outside ``[low, high]`` (``(low, high]``
    with ``low_open``), saying the valid range: argparse prints ``error: argument --x: ...`` and exits 2.

    Args:
        kind: ``int`` or ``float`` (non-finite floats are refused too).
        low: Smallest valid value (None: no bound).
        high: Largest valid value (None: no bound).
        low_open: ``low`` itself is not valid (e.g. a strictly positive float).
        what: Why the range, appended to the message (e.g. ``'stops between neighbouring frames'``).

    Returns:
        Callable[[str], Any]: The parser; its ``__name__`` is ``kind``'s, so argparse names the type in its messages.
    """
    lower = '(-inf' if low is None else ('(' if low_open else '[') + f'{low:g}'
    upper = 'inf)' if high is None else f'{high:g}]'
    bounds = f'{lower}, {upper}'

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f'{text!r} is not a valid {kind.__name__}') from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f'{text!r} is not a finite number; valid range {bounds}')
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            reason = f' ({what})' if what else ''
            raise argparse.ArgumentTypeError(f'{value!r} is outside the valid range {bounds}{reason}')
        return value

    parse.__name__ = kind.__name__
    return parse


#: Positive integers (counts, sizes, frequencies).
positive_int = ranged(int, 1)
#: Integers >= 0.
non_negative_int = ranged(int, 0)
