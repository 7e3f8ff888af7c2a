"""Split by source (basicsr_skt/data/splits.py): no source in two splits, and the disjointness check."""
import pytest

from basicsr_skt.synthesis.splits import check_disjoint, split_by_source

PHOTOS = [f'photo_{i:02d}' for i in range(19)]


@pytest.mark.parametrize('seed', range(5))
def test_split_never_puts_one_source_in_two_splits(seed):
    splits = split_by_source(PHOTOS + PHOTOS[:4], seed=seed)  # repetitions are the same source
    members = [s for split in splits.values() for s in split]
    assert sorted(members) == sorted(PHOTOS) and len(members) == len(set(members))
    assert [len(splits[k]) for k in ('train', 'val', 'test')] == [11, 4, 4]
    check_disjoint(splits)
    assert split_by_source(list(reversed(PHOTOS)), seed=seed) == splits  # order does not matter


def test_split_needs_three_sources_and_disjointness_is_checked():
    assert [len(v) for v in split_by_source(['a', 'b', 'c']).values()] == [1, 1, 1]
    with pytest.raises(ValueError, match='at least 3 distinct sources'):
        split_by_source(['a', 'b', 'a'])
    with pytest.raises(ValueError, match="'x' is in both the train and the test split"):
        check_disjoint({'train': ['x', 'y'], 'val': ['z'], 'test': ['x']})
