# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""``fleet --dot`` with host names holding what DOT gives a meaning to:
parsed back by a DOT tokenizer, and by Graphviz itself when installed."""

import html
import json
import re
import shutil
import subprocess

from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from benchmarks import fleet as bench_fleet
from nova_vfio_compat.planning import fleet
from tests.unit.planning import test_fleet as tf

# DOT's lexer: a quoted string's only escape is \" (a backslash before
# any other character is kept, and one before a line break continues the
# line); IDs; the punctuation this output uses.
_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.|\\\n)*)"|([A-Za-z_][\w.]*|'
                    r'-?[0-9.]+)|(->|[{}\[\];=,]))', re.S)


def tokens(text):
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m, 'not DOT at %d: %r' % (pos, text[pos:pos + 40])
        if m.group(1) is not None:
            out.append(('str', m.group(1).replace('\\"', '"')))
        elif m.group(2) is not None:
            out.append(('id', m.group(2)))
        else:
            out.append(('punct', m.group(3)))
        pos = m.end()
    return out


def label_lines(raw):
    """A label's lines, its escapes and entities read as Graphviz does."""
    lines, cur, i = [], '', 0
    while i < len(raw):
        if raw[i] == '\\' and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt in 'nlr':
                lines.append(cur)
                cur = ''
            else:
                cur += nxt
            i += 2
        else:
            cur += raw[i]
            i += 1
    return [html.unescape(line) for line in lines + [cur]]


def _dot_of(hosts):
    placed = [(h, bench_fleet.document(1, 1)) for h in hosts]
    families = fleet.build(tf._providers(placed))
    return families, fleet.to_dot(families)


def _labels(toks):
    """{node id: label} from ``ID [label="..."]`` statements."""
    out = {}
    for i, tok in enumerate(toks):
        if tok == ('id', 'label') and toks[i - 2][0] == 'str' and \
                toks[i - 1] == ('punct', '['):
            out[toks[i - 2][1]] = toks[i + 2][1]
    return out


_names = st.text(alphabet='ab\\"\'{};=-&#NGlnr\n', min_size=1,
                 max_size=8).filter(lambda s: s.strip() == s)


@given(st.lists(_names, min_size=1, max_size=3, unique=True))
def test_host_names_are_escaped_for_the_dot_lexer(hosts):
    families, dot = _dot_of(hosts)
    toks = tokens(dot)
    assert toks[:3] == [('id', 'digraph'), ('id', 'fleet'), ('punct', '{')]
    assert toks[-1] == ('punct', '}')
    labels = _labels(toks)
    groups = {'%d.%d' % (n, i): group for n, family in enumerate(families)
              for i, group in enumerate(family.groups)}
    assert set(labels) == set(groups)
    for node, group in groups.items():
        text = '\n'.join(label_lines(labels[node]))
        assert text.startswith('\n'.join(group) + '\nemits '), text


# Graphviz draws no empty line: names on one line here (the tokenizer
# test has line breaks).
_one_line = _names.filter(lambda s: '\n' not in s)


@pytest.mark.skipif(shutil.which('dot') is None,
                    reason='Graphviz (dot) is not installed')
@settings(max_examples=20, deadline=None)
@given(st.lists(_one_line, min_size=1, max_size=3, unique=True))
# Graphviz reads "&...;" as a character entity: "&#;" was drawn "&".
@example(['&#;', 'a&amp;b'])
def test_graphviz_draws_the_host_names_as_they_are(hosts):
    families, dot = _dot_of(hosts)
    drawn = json.loads(subprocess.run(
        ['dot', '-Tjson'], input=dot, capture_output=True, text=True,
        check=True).stdout)
    texts = {}
    for obj in drawn.get('objects', ()):
        if 'nodes' in obj or obj.get('name', '').startswith('cluster'):
            continue
        texts[obj['name']] = [op['text'] for op in obj.get('_ldraw_', ())
                              if op['op'] == 'T']
    for n, family in enumerate(families):
        for i, group in enumerate(family.groups):
            text = '\n'.join(texts['%d.%d' % (n, i)])
            assert text.startswith('\n'.join(group) + '\nemits '), text
