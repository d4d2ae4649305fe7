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

"""The document validation boundary, one test per class of hostile input.

Each class was once accepted or crashed later (in the rules, the trait
encoding or the printing).  Now each is refused at parsing with a message
naming the source and the place, and whatever is accepted can be computed
all the way: the property at the end.
"""

import json

from hypothesis import given
from hypothesis import strategies as st
import pytest

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.model import records
from nova_vfio_compat.model import rules
from nova_vfio_compat.model import schema
from nova_vfio_compat.model import traits
from tests import strategies

SOURCE = 'hostile.json'


def _record(**changes):
    data = {
        'device_api': 'vfio-pci', 'vendor': 'mlx5_vfio_pci',
        'version': {'major': 28, 'minor': 41},
        'vfio-pci': {'vendor': 0x15b3, 'device': 0x101e,
                     'subsystem_vendor': 0x15b3, 'subsystem_device': 0x16},
    }
    for key, value in changes.items():
        if '.' in key:
            outer, inner = key.split('.')
            data[outer] = dict(data[outer], **{inner: value})
        else:
            data[key] = value
    return data


def _refused(data_or_text, *fragments):
    with pytest.raises(records.InvalidDocument) as e:
        if isinstance(data_or_text, str):
            records.loads(data_or_text, SOURCE)
        else:
            records.parse_document(data_or_text, SOURCE)
    message = str(e.value)
    assert message.startswith(SOURCE + ': ')
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.parametrize('key, value', [
    ('version.minor', 2.0),
    ('version.major', 28.0),
    ('vfio-pci.vendor', 32902.0),
    ('version.minor', True),
    ('vfio-pci.device', False),
])
def test_numbers_that_are_not_integers_are_refused(key, value):
    message = _refused(_record(**{key: value}), 'at %s: ' % key)
    assert 'not a number with a fraction or a boolean' in message
    # The same through JSON text, where 2.0 is how the number is spelled.
    _refused(json.dumps(_record(**{key: value})), 'at %s: ' % key)


def test_mdev_attr_values_are_not_floats_or_bools():
    _refused(_record(mdev_type='foo-1', mdev_attrs=[{'aggregation': 3.0}]),
             'at mdev_attrs[0].aggregation: ')
    _refused(_record(mdev_type='foo-1', mdev_attrs=[{'aggregation': True}]),
             'at mdev_attrs[0].aggregation: ')


@pytest.mark.parametrize('key, value', [
    ('vendor', 'mlx5\ud800'),
    ('vfio-pci.driver_version', '28.41\udfff'),
    ('mdev_type', 'foo-\ud800'),
])
def test_text_with_a_lone_surrogate_is_refused(key, value):
    data = _record(**{key: value})
    _refused(data, 'at %s: ' % key, 'not well-formed Unicode')
    # JSON's \ud800 escape is how such text arrives.
    _refused(json.dumps(data), 'at %s: ' % key, 'not well-formed Unicode')


def test_a_key_with_a_lone_surrogate_is_refused():
    _refused(_record(**{'vfio-pci': {'vendor': 1, 'device': 2,
                                     'subsystem_vendor': 3,
                                     'subsystem_device': 4,
                                     'x\ud800': 1}}),
             'not well-formed Unicode')


@pytest.mark.parametrize('text', [
    json.dumps(_record()).replace('"minor": 41', '"minor": 4' + '1' * 5000),
    json.dumps(_record()).replace('"minor": 41', '"minor": -' + '1' * 40),
    'device_api: vfio-ap\nvendor: x\nversion: {major: 1, minor: %s}\n'
    % ('9' * 5000),
    'device_api: vfio-ap\nvendor: x\nversion: {major: 1, minor: 0x%s}\n'
    % ('f' * 5000),
    'device_api: vfio-ap\nvendor: x\nversion: {major: 1, minor: %s}\n'
    % ('1_' * 40 + '1'),
])
def test_integers_with_absurdly_many_digits_are_refused_cleanly(text):
    _refused(text, 'digits is longer than the limit of %d digits'
             % schema.MAX_INT_DIGITS)


def test_an_absurd_integer_given_as_data_is_refused_cleanly():
    _refused(_record(**{'version.minor': 10 ** 5000}),
             'at version.minor: ', 'digits is longer than the limit')


@pytest.mark.parametrize('key', schema.RECORD_KEYS)
def test_a_device_api_named_like_another_key_is_refused(key):
    data = _record(device_api=key)
    del data['vfio-pci']
    _refused(data, 'at device_api: ', 'is the name of another key')


def test_the_bus_section_may_be_named_by_any_other_device_api():
    doc = records.parse_document({'device_api': 'vfio-ap', 'vendor': 'x',
                                  'version': {'major': 1, 'minor': 0},
                                  'vfio-ap': {'card_type': 3}}, SOURCE)
    assert doc.emits.bus == (('card_type', 3),)


@pytest.mark.parametrize('key, value', [
    ('vendor', 'mlx5_vfio_pci\n'),
    ('vendor', 'mlx5\x85pci'),            # a C1 control character (NEL)
    ('vendor', 'mlx5\x00'),
    ('device_api', 'vfio-pci\n'),
    ('mdev_type', 'foo-1\n'),
    ('vfio-pci.driver_version', '28.41\n'),
])
def test_control_characters_and_trailing_newlines_are_refused(key, value):
    if key == 'device_api':
        _refused(_record(**{key: value}), 'at device_api: ')
    else:
        _refused(_record(**{key: value}), 'at %s: ' % key)


def test_a_bus_key_with_a_trailing_newline_is_refused():
    bus = dict(_record()['vfio-pci'], **{'extra\n': 1})
    _refused(_record(**{'vfio-pci': bus}), 'at vfio-pci: ')


@pytest.mark.parametrize('text, key', [
    ('{"device_api": "vfio-ap", "vendor": "a", "vendor": "b", '
     '"version": {"major": 1, "minor": 0}}', 'vendor'),
    ('{"device_api": "vfio-ap", "vendor": "a", '
     '"version": {"major": 1, "minor": 0, "minor": 5}}', 'minor'),
    ('device_api: vfio-ap\nvendor: a\nvendor: b\n'
     'version: {major: 1, minor: 0}\n', 'vendor'),
    ('self:\n  device_api: vfio-ap\n  vendor: a\n'
     '  version: {major: 1, minor: 0, major: 2}\n', 'major'),
])
def test_duplicate_keys_are_refused_naming_the_key(text, key):
    _refused(text, 'duplicate key %r' % key)


def test_deep_nesting_is_refused_before_validation():
    nested = 1
    for _ in range(schema.MAX_DEPTH + 2):
        nested = {'x': nested}
    bus = dict(_record()['vfio-pci'], extra=nested)
    _refused({'self': _record(**{'vfio-pci': bus})},
             'at self.vfio-pci.extra.x.x', 'is nested deeper than')


def test_the_cli_refuses_each_class_in_one_line_exit_2(tmp_path, capsys):
    texts = [
        json.dumps(_record(**{'version.minor': 2.0})),
        json.dumps(_record(vendor='x\ud800')),
        json.dumps(_record()).replace('41', '4' * 5000),
        json.dumps(dict(_record(device_api='version'))),
        json.dumps(_record(vendor='x\n')),
        '{"device_api": "vfio-ap", "device_api": "vfio-ap"}',
    ]
    for i, text in enumerate(texts):
        path = tmp_path / ('doc%d.json' % i)
        path.write_text(text)
        for argv in (['check', str(path), str(path)], ['traits', str(path)],
                     ['matrix', str(path)]):
            status = cli.main(argv)
            out, err = capsys.readouterr()
            assert status == 2, (text[:80], argv, err)
            assert err.startswith('nova-vfio-compat: error: %s: ' % path)
            assert len(err.splitlines()) == 1
            assert out == ''


# The property: whatever validates can be computed by the rules and traits.

@given(st.one_of(strategies.hostile_documents(), strategies.documents()))
def test_whatever_validates_is_computable_by_rules_and_traits(data):
    try:
        doc = records.parse_document(data, SOURCE)
    except records.InvalidDocument as e:
        assert str(e).startswith(SOURCE + ': ')
        return
    _assert_computable(doc)


def _assert_computable(doc):
    for record in (doc.emits,) + doc.accepts:
        for value in (record.major, record.minor, record.minor_min):
            assert type(value) is int and 0 <= value <= schema.MAX_INT
        for _key, value in record.bus:
            assert type(value) in (int, str)
        records.describe_stream(record).encode('utf-8')
        assert traits.is_valid_name(traits.resource_class(record))
    # The rules accept a device's own stream; the traits agree.
    verdict = rules.check(doc, doc)
    try:
        names = traits.document_traits(doc)
    except traits.TraitLimitExceeded as e:
        assert SOURCE in str(e)
        return
    assert all(traits.is_valid_name(n) for n in names)
    assert traits.can_migrate(names, names) is verdict.compatible
    # The canonical form prints, encodes and parses back to the document.
    text = json.dumps(records.document_to_dict(doc), ensure_ascii=False)
    assert records.loads(text.encode('utf-8'), SOURCE) == doc
