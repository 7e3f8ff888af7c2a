"""Research records name paths relative to the repository, never a folder of one machine."""
import os.path as osp

from research.paths import REPO, portable_argv, repo_relative


def test_absolute_paths_become_repository_relative():
    assert repo_relative(osp.join(REPO, 'docs', 'evidence.md')) == 'docs/evidence.md'
    outside = osp.join(osp.dirname(REPO), 'shared', 'data', 'hdr')
    assert repo_relative(outside) == '../shared/data/hdr'
    assert repo_relative('evidence_v2/data') == 'evidence_v2/data'  # relative: as given
    argv = ['--hdr-dir', outside, '--work=' + osp.join(REPO, 'evidence'), '--seeds', '0', '1', '--notes=notes.md']
    assert portable_argv(argv) == ['--hdr-dir', '../shared/data/hdr', '--work=evidence', '--seeds', '0', '1',
                                   '--notes=notes.md']
