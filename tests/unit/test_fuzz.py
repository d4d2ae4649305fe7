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

"""Hostile input: only the documented errors, never a traceback or a hang.

Capability documents come from sysfs attributes and files that a vendor or
an operator wrote; whatever they contain, parsing either returns a valid
document or raises InvalidDocument naming the source.  The deadline turns
a hang (or an exponential blow-up) into a failure.
"""

import contextlib
import datetime
import io
import json

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import yaml

from nova_vfio_compat.cmd import cli
from nova_vfio_compat import records
from nova_vfio_compat import traits
from tests import strategies

DEADLINE = datetime.timedelta(seconds=2)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=12), children, max_size=4),
    max_leaves=30)


def _near_miss(data):
    """Valid documents with one value replaced by an arbitrary one."""
    return st.tuples(st.just(data), json_values).map(_replace_one)


def _replace_one(pair):
    data, value = pair
    data = json.loads(json.dumps(data))
    target = data.get('self', data)
    key = sorted(target)[hash(json.dumps(value, default=str)) % len(target)]
    target[key] = value
    return data


def _parse_or_refuse(data, source='fuzz.yaml'):
    try:
        doc = records.parse_document(data, source)
    except records.InvalidDocument as e:
        assert str(e).startswith(source)
        return None
    # Whatever was accepted must be usable all the way to traits.
    try:
        traits.document_traits(doc)
    except traits.TraitLimitExceeded as e:
        assert source in str(e)
    return doc


def _loads_or_refuse(text, source='fuzz.yaml'):
    try:
        records.loads(text, source, max_bytes=64 * 1024)
    except records.InvalidDocument as e:
        assert str(e).startswith(source)


@settings(deadline=DEADLINE)
@given(st.binary(max_size=512))
def test_arbitrary_bytes(data):
    _loads_or_refuse(data)


@settings(deadline=DEADLINE)
@given(json_values)
def test_arbitrary_json_values(value):
    _parse_or_refuse(value)
    _loads_or_refuse(json.dumps(value))


@settings(deadline=DEADLINE)
@given(json_values)
def test_arbitrary_yaml_text(value):
    _loads_or_refuse(yaml.safe_dump(value))


@settings(deadline=DEADLINE)
@given(strategies.documents().flatmap(_near_miss))
def test_documents_with_one_bad_value(data):
    _parse_or_refuse(data)


@settings(deadline=DEADLINE)
@given(st.text(alphabet='{}[]:,"\'&*!|>-#\n 0x1aZ', max_size=200))
def test_yaml_and_json_punctuation_soup(text):
    _loads_or_refuse(text)


def test_yaml_alias_bomb_is_refused_quickly():
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    for i in range(1, 12):
        bomb += '%s: &%s [%s]\n' % (
            chr(97 + i), chr(97 + i), ','.join(['*' + chr(96 + i)] * 9))
    _loads_or_refuse(bomb)


@settings(deadline=None, max_examples=50)
@given(st.binary(max_size=256))
def test_cli_over_arbitrary_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp('fuzz') / 'doc'
    path.write_bytes(data)
    for argv in (['check', str(path), str(path)], ['traits', str(path)],
                 ['traits', str(path), '--json']):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()):
            status = cli.main(argv)
        assert status in (0, 1, 2)
        assert 'Traceback' not in err.getvalue()
        if status == 2:
            assert err.getvalue().startswith(
                'nova-vfio-compat: error: %s' % path)
