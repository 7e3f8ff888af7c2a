"""Option sections parsed once into frozen dataclasses: known keys from the fields, each default written once.

A section class is a frozen dataclass deriving from :class:`OptionSection`; its fields are the keys it reads, with
their defaults, and its ``__post_init__`` checks each value (numbers against their range, names against their
choices) with the helpers below, so that a bad value stops the run where the options are read, with a message that
names the key and the valid values::

    @dataclass(frozen=True)
    class MaskOptions(OptionSection):
        SECTION = 'skt.mask'
        patch_size: int = 8

        def __post_init__(self):
            check_number(self, 'patch_size', low=1, integer=True)

    mask = MaskOptions.parse(opt['skt'].get('mask'))   # a missing or null section: every default
    MaskOptions.warn_unknown_keys(opt['skt'].get('mask'))  # "skt.mask: unknown key 'patch' is ignored (did you ..."

A key set to null (YAML ``~``) takes its default. A field whose type is another section class is parsed as a
sub-section. ``EXTRA_KEYS`` lists keys that others read from the same section (BasicSR's own ``val`` keys), so that
they do not warn; ``MOVED`` maps keys that are no longer read to the user error that names their replacement.

Imports nothing above ``basicsr_skt.utils``.
"""
import dataclasses
import typing
from typing import Any, ClassVar, Collection, Dict, List, Mapping, Optional, Tuple, Type, TypeVar, Union

from basicsr_skt.utils.errors import UserInputError
from basicsr_skt.utils.option_checks import log_warnings, unknown_key_messages

S = TypeVar('S', bound='OptionSection')
Number = Union[int, float]


@dataclasses.dataclass(frozen=True)
class OptionSection:
    """Base of the option-section dataclasses (see the module docstring); subclasses set :attr:`SECTION`."""

    #: The section's dotted name in messages, e.g. ``'skt.mask'``.
    SECTION: ClassVar[str] = ''
    #: Keys of the same section read by others (not fields here), e.g. BasicSR's ``val.val_freq``.
    EXTRA_KEYS: ClassVar[Tuple[str, ...]] = ()
    #: Keys no longer read -> the user error raised when a config still sets them.
    MOVED: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def keys(cls) -> Tuple[str, ...]:
        """The keys this section reads: its field names, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def known_keys(cls) -> Tuple[str, ...]:
        """Every key that does not warn: the fields, then :attr:`EXTRA_KEYS`."""
        return cls.keys() + tuple(cls.EXTRA_KEYS)

    @classmethod
    def subsections(cls) -> Dict[str, Type['OptionSection']]:
        """Field name -> section class, for the fields that are sub-sections."""
        hints = typing.get_type_hints(cls)
        return {
            name: hint
            for name, hint in hints.items()
            if name in cls.keys() and isinstance(hint, type) and issubclass(hint, OptionSection)
        }

    @classmethod
    def parse(cls: Type[S], options: Optional[Mapping[str, Any]]) -> S:
        """The section built from the known keys of ``options`` (not modified; unknown keys are left to
        :meth:`warn_unknown_keys`).

        Args:
            options: The section as read from YAML; None: every default.

        Raises:
            UserInputError: ``options`` is not a mapping, sets a :attr:`MOVED` key, or holds a bad value.
        """
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise UserInputError(f'Option {cls.SECTION} must be a section of keys (a mapping), got {options!r}: '
                                 f'write it as "{cls.SECTION.split(".")[-1]}: {{key: value, ...}}" or leave it out')
        for key, message in cls.MOVED.items():
            if key in options:
                raise UserInputError(message)
        subsections = cls.subsections()
        values: Dict[str, Any] = {}
        for name in cls.keys():
            value = options.get(name)
            if name in subsections:
                values[name] = subsections[name].parse(value)
            elif value is not None:
                values[name] = value
        return cls(**values)

    @classmethod
    def unknown_key_messages(cls, options: Optional[Mapping[str, Any]]) -> List[str]:
        """One message per key nobody reads, in this section and its sub-sections (see
        :func:`~basicsr_skt.utils.option_checks.unknown_key_messages`)."""
        if not isinstance(options, Mapping):
            return []
        messages = unknown_key_messages(cls.SECTION, options, cls.known_keys())
        for name, section in cls.subsections().items():
            messages += section.unknown_key_messages(options.get(name))
        return messages

    @classmethod
    def warn_unknown_keys(cls, options: Optional[Mapping[str, Any]], logger=None) -> List[str]:
        """Log :meth:`unknown_key_messages` as warnings (BasicSR's root logger by default); returns them."""
        return log_warnings(cls.unknown_key_messages(options), logger)

    def key_name(self, key: str) -> str:
        """``<section>.<key>`` for messages."""
        return f'{self.SECTION}.{key}' if self.SECTION else key

    def replace_value(self, key: str, value: Any) -> None:
        """Store a normalised value in ``__post_init__`` (the dataclass is frozen)."""
        object.__setattr__(self, key, value)


def _range_text(low: Optional[Number], high: Optional[Number], low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f'in {"(" if low_open else "["}{low:g}, {high:g}{")" if high_open else "]"}'
    if low is not None:
        return f'{">" if low_open else ">="} {low:g}'
    if high is not None:
        return f'{"<" if high_open else "<="} {high:g}'
    return ''


def check_number(section: OptionSection,
                 key: str,
                 low: Optional[Number] = None,
                 high: Optional[Number] = None,
                 low_open: bool = False,
                 high_open: bool = False,
                 integer: bool = False) -> Number:
    """Check that field ``key`` of ``section`` is a number in a range, store it as int / float and return it.

    Args:
        section: The section being built (in its ``__post_init__``).
        key: The field.
        low, high: Bounds (None: unbounded).
        low_open, high_open: Whether the bound itself is excluded.
        integer: Whether only whole numbers are valid (``5000.0`` is taken as ``5000``).

    Raises:
        UserInputError: ``Option skt.ramp_iter must be an integer >= 0, got -1 ...``.
    """
    value = getattr(section, key)
    kind = 'an integer' if integer else 'a number'
    valid = not isinstance(value, bool) and isinstance(value, (int, float))
    if valid and integer:
        valid = float(value).is_integer()
    if valid:
        value = int(value) if integer else float(value)
        valid = ((low is None or (value > low if low_open else value >= low))
                 and (high is None or (value < high if high_open else value <= high)))
    if not valid:
        what = f'{kind} {_range_text(low, high, low_open, high_open)}'.strip()
        raise UserInputError(f'Option {section.key_name(key)} must be {what}, got {getattr(section, key)!r}: set a '
                             'value in that range in the option file')
    section.replace_value(key, value)
    return value


def check_choice(section: OptionSection, key: str, choices: Collection[str]) -> str:
    """Check that field ``key`` of ``section`` is one of ``choices``; returns it.

    Raises:
        UserInputError: ``Option skt.mode must be one of ('joint', ...), got 'both'``.
    """
    value = getattr(section, key)
    if value not in choices:
        raise UserInputError(f'Option {section.key_name(key)} must be one of {tuple(choices)}, got {value!r}')
    return value


def check_bool(section: OptionSection, key: str) -> bool:
    """Check that field ``key`` of ``section`` is true or false; returns it.

    Raises:
        UserInputError: ``Option val.save_exr must be true or false, got 'yes'``.
    """
    value = getattr(section, key)
    if not isinstance(value, bool):
        raise UserInputError(f'Option {section.key_name(key)} must be true or false, got {value!r}')
    return value


def check_mapping(section: OptionSection, key: str) -> Optional[Dict[str, Any]]:
    """Field ``key`` of ``section`` as a plain dict copy, or None when empty / absent.

    Raises:
        UserInputError: The value is not a mapping.
    """
    value = getattr(section, key)
    if not value:
        section.replace_value(key, None)
        return None
    if not isinstance(value, Mapping):
        raise UserInputError(f'Option {section.key_name(key)} must be a section of keys (e.g. a loss with its type '
                             f'and loss_weight), got {value!r}')
    value = dict(value)
    section.replace_value(key, value)
    return value
