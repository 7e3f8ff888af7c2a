"""The documentation's relative links resolve, and the front page stays short.

Parses every Markdown link ``[text](target)`` (images included) in README.md, docs/*.md and research/**/*.md, outside
fenced code blocks and inline code, and checks that each relative target exists; a ``#anchor`` into a Markdown file
must name one of its headings (GitHub's heading ids). Pure text processing: runs in milliseconds.
"""
import ast
import re
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250

_FENCE = re.compile(r'^(```|~~~).*?^\1[^\n]*$', re.S | re.M)
_INLINE_CODE = re.compile(r'(`+)(?:(?!\1).)+?\1', re.S)
_HTML_COMMENT = re.compile(r'<!--.*?-->', re.S)
# [text](target) or [text](target "title"); text may span lines and hold one level of nested brackets (images).
_LINK = re.compile(r'\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
_EXTERNAL = re.compile(r'^[a-zA-Z][a-zA-Z0-9+.-]*:')  # http:, https:, mailto:, ...
# `test_x.py::test_y` names a test; a bare `::test_y` (or a file named alone, as in "Tests in test_x.py") refers to the
# file named last before it, in the same or an earlier line.
_TEST_REF = re.compile(r'(?:(?:tests/)?(test_\w+\.py))?::(test_\w+)|(?:tests/)?(test_\w+\.py)')


def doc_files() -> List[Path]:
    return [ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('*.md')) + sorted((ROOT / 'research').rglob('*.md'))


def _prose(text: str) -> str:
    """The text without code (fenced blocks, inline spans) and HTML comments, where link syntax means nothing."""
    for pattern in (_FENCE, _HTML_COMMENT, _INLINE_CODE):
        text = pattern.sub(lambda m: '\n' * m.group(0).count('\n'), text)
    return text


def links(path: Path) -> Iterator[Tuple[int, str]]:
    """(line number, target) of every Markdown link in the file."""
    text = _prose(path.read_text(encoding='utf-8'))
    for match in _LINK.finditer(text):
        yield text.count('\n', 0, match.start(1)) + 1, match.group(1)


def heading_ids(path: Path) -> set:
    """GitHub's ids of the file's headings: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats."""
    ids, seen = set(), {}
    for line in _FENCE.sub('', path.read_text(encoding='utf-8')).splitlines():
        match = re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
        if not match:
            continue
        slug = re.sub(r'[^\w\- ]', '', match.group(1).strip().lower()).replace(' ', '-')
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        ids.add(slug if n == 0 else f'{slug}-{n}')
    return ids


def _relative_links() -> List[Tuple[Path, int, str]]:
    out = []
    for path in doc_files():
        for line, target in links(path):
            if not _EXTERNAL.match(target):
                out.append((path, line, target))
    return out


def test_the_parser_finds_links() -> None:
    assert any(t.startswith('docs/') for _, t in links(ROOT / 'README.md')), 'README.md should link its docs pages'
    assert 'nope' not in _prose('a `[x](nope.md)` b\n```\n[y](nope.md)\n```\n<!-- [z](nope.md) -->\n')
    text = '![a\nb](img.png) [c [d]](e.md#f) [g](h.md "t") | [i](../j.md) | [k](https://x.org/l)'
    assert [m.group(1) for m in _LINK.finditer(text)] == ['img.png', 'e.md#f', 'h.md', '../j.md', 'https://x.org/l']


def test_relative_links_resolve() -> None:
    broken = []
    for path, line, target in _relative_links():
        file_part = target.split('#', 1)[0]
        if file_part and not (path.parent / file_part).exists():
            broken.append(f'{path.relative_to(ROOT)}:{line}: {target}')
    assert not broken, 'links to files that do not exist:\n' + '\n'.join(broken)


def test_anchors_name_headings() -> None:
    broken = []
    for path, line, target in _relative_links():
        if '#' not in target:
            continue
        file_part, anchor = target.split('#', 1)
        dest = (path.parent / file_part) if file_part else path
        if dest.suffix == '.md' and dest.is_file() and anchor not in heading_ids(dest):
            broken.append(f'{path.relative_to(ROOT)}:{line}: {target}')
    assert not broken, 'links to headings that do not exist:\n' + '\n'.join(broken)


def test_readme_is_a_front_page() -> None:
    lines = (ROOT / 'README.md').read_text(encoding='utf-8').count('\n')
    assert lines <= README_MAX_LINES, f'README.md has {lines} lines; move detail into docs/ (limit {README_MAX_LINES})'


@pytest.mark.parametrize('heading', ['## Quick start', '## Evidence: does SKT boost the ORM?'])
def test_readme_keeps_its_landmarks(heading: str) -> None:
    assert heading in (ROOT / 'README.md').read_text(encoding='utf-8').splitlines()


def test_named_tests_exist() -> None:
    """Every test a page names (``test_x.py::test_y``, or ``::test_y`` after a named file) is a function there."""
    functions = {}
    for path in (ROOT / 'tests').glob('test_*.py'):
        tree = ast.parse(path.read_text(encoding='utf-8'))
        functions[path.name] = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    missing = []
    for path in doc_files():
        current = None
        for number, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1):
            for match in _TEST_REF.finditer(line):
                if match.group(3):
                    current = match.group(3)
                    continue
                current = match.group(1) or current
                if match.group(2) not in functions.get(current, ()):
                    missing.append(f'{path.relative_to(ROOT)}:{number}: {current}::{match.group(2)}')
    assert not missing, 'tests named in the docs that do not exist:\n' + '\n'.join(missing)
