"""Dataset splits by *source*: every scene made from one source image lands in exactly one split."""
from collections import OrderedDict
from typing import Dict, List, Sequence

import numpy as np

SPLITS = ('train', 'val', 'test')


def split_by_source(sources: Sequence[str], val_fraction: float = 0.2, test_fraction: float = 0.2,
                    seed: int = 0) -> 'OrderedDict[str, List[str]]':
    """Assign each distinct source to one of ``train`` / ``val`` / ``test``, reproducibly.

    The distinct sources are sorted, shuffled with ``seed`` and cut into ``round(val_fraction * n)`` validation and
    ``round(test_fraction * n)`` test sources (at least one each) and the rest for training (at least one). The
    result depends only on the set of sources and the seed, not on their order or repetitions.

    Args:
        sources: Source identifiers (e.g. HDR photograph file stems); repetitions are allowed and ignored.
        val_fraction: Share of the sources for validation (0 < f < 1).
        test_fraction: Share of the sources for the test set (0 < f < 1).
        seed: Shuffle seed.

    Returns:
        ``{'train': [...], 'val': [...], 'test': [...]}``, each list sorted; together a partition of the sources.

    Raises:
        ValueError: Fewer than 3 distinct sources, or fractions outside (0, 1) or summing to 1 or more.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f'val_fraction and test_fraction must lie in (0, 1) with a sum below 1, got {val_fraction} '
                         f'and {test_fraction}')
    unique = sorted(set(sources))
    if len(unique) < 3:
        raise ValueError(f'Need at least 3 distinct sources to make train/val/test splits, got {len(unique)}: {unique}')
    order = [unique[i] for i in np.random.default_rng(seed).permutation(len(unique))]
    num_val = max(1, int(round(val_fraction * len(unique))))
    num_test = max(1, int(round(test_fraction * len(unique))))
    num_test = min(num_test, len(unique) - num_val - 1)
    return OrderedDict([('train', sorted(order[num_val + num_test:])), ('val', sorted(order[:num_val])),
                        ('test', sorted(order[num_val:num_val + num_test]))])


def check_disjoint(splits: Dict[str, Sequence[str]]) -> None:
    """Raise ``ValueError`` naming a source that appears in two splits."""
    seen: Dict[str, str] = {}
    for split, members in splits.items():
        for source in members:
            if source in seen and seen[source] != split:
                raise ValueError(f'Source {source!r} is in both the {seen[source]} and the {split} split')
            seen[source] = split
