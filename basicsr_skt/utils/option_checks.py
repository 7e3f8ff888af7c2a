"""Checks of user options shared by datasets, models and scripts: unknown option keys (with a "did you mean"
suggestion), ``KEY=VALUE`` command-line options, BasicSR option files read/written in order (a repeated key refused),
``--force_yml`` entries and the parsed run options.

Imports nothing above ``basicsr_skt.utils``; the warnings go through BasicSR's root logger.
"""
import collections.abc
import difflib
from os import path as osp
from typing import Any, Collection, Dict, Iterable, List, Mapping, Optional

#: The ``skt`` sections of the distillation terms (content, colour, SKAM), each a loss with a ``loss_weight``; here
#: because scripts that edit configs use them too (the keys of ``skt``, ``skt.mask``, ``skt.diagnostics`` and ``val``
#: are the fields of the dataclasses in ``basicsr_skt.models.model_options``, which the models own).
SKT_DISTILL_SECTIONS = ('content_opt', 'colour_opt', 'skam_opt')


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
    return log_warnings(unknown_key_messages(section, options or {}, known), logger)


def log_warnings(messages: List[str], logger=None) -> List[str]:
    """Log each message as a warning (on BasicSR's root logger by default); returns ``messages``."""
    if messages:
        if logger is None:
            from basicsr.utils import get_root_logger  # imported here: utils must not import basicsr at import time
            logger = get_root_logger()
        for message in messages:
            logger.warning(message)
    return messages


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


def check_heads_divide(arch: str, width: int, width_option: str, heads: Iterable[int], heads_option: str) -> None:
    """Refuse attention heads that do not split a width evenly, when the network is built (not at the first forward,
    where the reshape of the attention fails without naming the option).

    Args:
        arch (str): The network, for the message (e.g. ``'HDRTransformer'``).
        width (int): Channels split across the heads (e.g. ``embed_dim``).
        width_option (str): The option that sets ``width`` (e.g. ``'embed_dim'``; ``'embed_dim / 3'`` when derived).
        heads (Iterable[int]): Heads per stage (or one number in a list).
        heads_option (str): The option that sets them (e.g. ``'num_heads'``).

    Raises:
        UserInputError: A head count that is not a positive integer dividing ``width``; the message names both
            options and lists the head counts that fit.
    """
    from basicsr_skt.utils.errors import UserInputError

    heads = list(heads)
    for index, count in enumerate(heads):
        if isinstance(count, bool) or not isinstance(count, int) or count < 1 or width % count:
            where = f'{heads_option}[{index}]' if len(heads) > 1 else heads_option
            fits = [n for n in range(1, min(width, 64) + 1) if width % n == 0]
            raise UserInputError(f'{arch}: {where} = {count!r} does not divide {width_option} = {width} (each '
                                 f'attention head gets {width_option} / heads channels): choose {heads_option} '
                                 f'among {fits}, or change {width_option}')


#: Largest integer argument of a network (channels, counts, sizes) the option checks accept.
MAX_NETWORK_INT = 4096


def _option_value_problem(name: str, hint: Any, value: Any) -> Optional[str]:
    """Why ``value`` cannot be the network argument ``name`` of type ``hint`` (None when it can).

    Rules, from the argument types of the shipped networks: an ``int`` is a count or a size in [1, 4096] (wider
    layers do not fit in memory), a ``float`` is finite and > 0 (a ``drop*`` rate: in [0, 1); a ``*ratio``: at
    most 64), a ``bool`` is true/false, a ``str`` a string, a ``Sequence[int]`` a non-empty list of such ints,
    ``Optional[X]`` also null, ``Union[A, B]`` either.
    """
    import math
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        problems = [_option_value_problem(name, arg, value) for arg in args if arg is not type(None)]
        return None if any(problem is None for problem in problems) else problems[0]
    if origin in (tuple, list, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)) or not value:
            return f'must be a non-empty list, got {value!r}'
        if origin is tuple and args and args[-1] is not Ellipsis and len(value) != len(args):
            return f'must be a list of {len(args)} values, got {value!r}'
        for item in value:
            problem = _option_value_problem(name, args[0] if args else Any, item)
            if problem:
                return f'holds {item!r}: each value {problem}'
        return None
    if hint is bool:
        return None if isinstance(value, bool) else f'must be true or false, got {value!r}'
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return f'must be an integer, got {value!r}'
        return None if 1 <= value <= MAX_NETWORK_INT else (
            f'must lie in [1, {MAX_NETWORK_INT}] (a count or a size), got {value!r}')
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f'must be a finite number, got {value!r}'
        if 'drop' in name:
            return None if 0 <= value < 1 else f'must lie in [0, 1) (a drop rate), got {value!r}'
        if name.endswith('ratio'):
            return None if 0 < value <= 64 else f'must lie in (0, 64] (a width ratio), got {value!r}'
        return None if value > 0 else f'must be greater than 0, got {value!r}'
    if hint is str:
        return None if isinstance(value, str) else f'must be a string, got {value!r}'
    return None  # other types (classes such as norm_layer) are not set from option files


def check_network_options(section: str, options: Mapping[str, Any], cls: type, source: str) -> None:
    """Check a ``network_*`` section against the argument types of the network class, before it is built.

    A value of the wrong type or out of range otherwise fails deep inside torch (``nn.Conv2d`` with a string width,
    a negative channel count) or at the first forward, with a message that does not name the option.

    Args:
        section (str): The section, e.g. ``'network_g'``.
        options (Mapping[str, Any]): Its options (``type`` and the network's keyword arguments).
        cls (type): The network class ``type`` names.
        source (str): The option file, for the message.

    Raises:
        UserInputError: An argument the network does not take (with the closest name), or a value of the wrong type
            or range; the message names ``<section>.<key>``, the file and the valid values.
    """
    import inspect
    import typing

    from basicsr_skt.utils.errors import UserInputError

    parameters = inspect.signature(cls.__init__).parameters
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # unresolvable annotations: check names only
        hints = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    known = [name for name in parameters if name != 'self']
    for key, value in options.items():
        if key == 'type':
            continue
        if key not in parameters and not takes_any:
            close = close_matches(key, known, 1)
            hint = f"; did you mean '{close[0]}'?" if close else f' (it takes {", ".join(known)})'
            raise UserInputError(f'Option {section}.{key} in {source}: {cls.__name__} has no argument {key!r}{hint}')
        problem = _option_value_problem(key, hints[key], value) if key in hints else None
        if problem:
            raise UserInputError(f'Option {section}.{key} in {source} {problem} (an argument of {cls.__name__})')
