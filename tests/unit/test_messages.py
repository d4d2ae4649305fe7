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

"""Errors about a document: one line, saying where the problem is."""

import json

from hypothesis import given
from hypothesis import strategies as st
import pytest

from nova_vfio_compat.model import records

BIG = '9' * 40
DOC = {'device_api': 'vfio-pci', 'vendor': 'x',
       'version': {'major': 1, 'minor': 1},
       'compatible': [{'version': {'major': 1, 'minor': [0, 2]}}]}


def _with_big(path_setter):
    doc = json.loads(json.dumps(DOC))
    path_setter(doc)
    return json.dumps(doc).replace('"BIG"', BIG)


@pytest.mark.parametrize('text, where', [
    (_with_big(lambda d: d['version'].__setitem__('major', 'BIG')),
     'at version.major'),
    (_with_big(lambda d: d['compatible'][0]['version']['minor'].__setitem__(
        1, 'BIG')), 'at compatible[0].version.minor[1]'),
    ('device_api: vfio-pci\nvendor: x\nversion: {major: %s, minor: 1}\n'
     % BIG, 'line 3 column 18'),
])
def test_an_integer_too_long_says_where_it_is(text, where):
    with pytest.raises(records.InvalidDocument) as e:
        records.loads(text, 'doc.json')
    message = str(e.value)
    assert message.startswith('doc.json: ') and where in message, message
    assert 'an integer of 40 digits' in message


@pytest.mark.parametrize('text, where', [
    ('a: b\nc: \x01\n', 'line 2 column 4'),
    ('a: b\nc: d\x7f\n', 'line 2 column 5'),
])
def test_a_character_yaml_refuses_is_one_line_saying_where(text, where):
    with pytest.raises(records.InvalidDocument) as e:
        records.parse_text(text, 'doc.yaml')
    assert '\n' not in str(e.value) and where in str(e.value), str(e.value)


_yamlish = st.lists(st.sampled_from(
    list('ab1-:[]{},&*!?%@`"\' \t\n\r\x01\x85\u2028#|>') +
    ['\ufeff', '- ', ': ', '!!binary ', '%YAML 1.1\n', '---\n', BIG]),
    max_size=20).map(''.join)


@given(st.one_of(_yamlish, st.text(max_size=40)))
def test_every_parse_error_is_one_line(text):
    try:
        records.parse_text(text, 'doc.yaml')
    except records.InvalidDocument as e:
        assert '\n' not in str(e) and '\r' not in str(e), str(e)
        assert str(e).startswith('doc.yaml: ')
