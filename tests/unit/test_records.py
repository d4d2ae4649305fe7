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

import json

import pytest

from nova_vfio_compat.host import files
from nova_vfio_compat.model import records

GVT = {
    'device_api': 'vfio-pci',
    'vendor': 'i915',
    'version': {'major': 1, 'minor': 2},
    'vfio-pci': {'vendor': '0x8086', 'device': '0x591d',
                 'subsystem_vendor': '0x8086', 'subsystem_device': '0x0003'},
    'mdev_type': 'i915-GVTg_V5_8',
    'mdev_attrs': [{'aggregation': '3'}],
}

GVT_YAML = """
device_api: vfio-pci
vendor: i915
version: {major: 1, minor: 2}
vfio-pci:
  vendor: 0x8086
  device: 0x591D
  subsystem_vendor: 32902
  subsystem_device: "0x3"
mdev_type: i915-GVTg_V5_8
mdev_attrs: [{aggregation: 3}]
"""


def test_bare_record_emits_itself_and_accepts_lower_minors():
    doc = records.parse_document(GVT, 'gvt.json')
    assert doc.emits.minor == 2
    assert doc.emits.minor_min == 0
    assert len(doc.accepts) == 1
    assert (doc.accepts[0].minor_min, doc.accepts[0].minor) == (0, 2)
    assert doc.source == 'gvt.json'


def test_json_and_yaml_spellings_canonicalise_to_the_same_document():
    from_json = records.loads(json.dumps(GVT), 'a.json')
    from_yaml = records.loads(GVT_YAML, 'b.yaml')
    assert from_json == from_yaml
    assert dict(from_yaml.emits.bus) == {
        'vendor': 0x8086, 'device': 0x591d,
        'subsystem_vendor': 0x8086, 'subsystem_device': 3}
    # mdev attribute values are strings, as mdevctl writes them.
    assert from_yaml.emits.mdev_attrs == (('aggregation', '3'),)


@pytest.mark.parametrize('written,value', [
    (17, 17), ('17', 17), ('0x11', 17), ('0X011', 17), ('0', 0)])
def test_a_version_may_be_written_in_hex_or_decimal_text(written, value):
    doc = records.parse_document(
        dict(GVT, version={'major': written, 'minor': written}), 'x')
    assert (doc.emits.major, doc.emits.minor) == (value, value)


def test_long_form_keeps_accepting_records_in_order():
    doc = records.parse_document({
        'self': dict(GVT, version={'major': 2, 'minor': 0}),
        'compatible': [
            dict(GVT, version={'major': 2, 'minor': 0}),
            dict(GVT, version={'major': 1, 'minor': 9, 'minor_min': 4}),
        ]}, 'x')
    assert doc.emits.major == 2
    assert [(r.major, r.minor_min, r.minor) for r in doc.accepts] == [
        (2, 0, 0), (1, 4, 9)]


def test_canonical_form_round_trips():
    doc = records.loads(GVT_YAML, 'b.yaml')
    again = records.parse_document(records.document_to_dict(doc), 'again')
    assert again == doc
    assert records.document_to_dict(doc)['self']['vfio-pci']['device'] == \
        '0x591d'


def _error(data, source='doc.yaml'):
    with pytest.raises(records.InvalidDocument) as e:
        if isinstance(data, (str, bytes)):
            records.loads(data, source)
        else:
            records.parse_document(data, source)
    return e.value


@pytest.mark.parametrize('data, path, fragment', [
    ({k: v for k, v in GVT.items() if k != 'vendor'}, '(top level)',
     "'vendor' is a required property"),
    (dict(GVT, version={'major': 1}), 'version',
     "'minor' is a required property"),
    (dict(GVT, version={'major': 1, 'minor': -1}), 'version.minor', ''),
    (dict(GVT, version={'major': 1, 'minor': 2, 'minor_min': 3}),
     'version', 'minor_min 3 is greater than minor 2'),
    (dict(GVT, **{'vfio-pci': dict(GVT['vfio-pci'], vendor=0x10000)}),
     'vfio-pci.vendor', '65536 is greater than the maximum of 65535'),
    ({k: v for k, v in GVT.items() if k != 'vfio-pci'}, '(top level)',
     "'vfio-pci' is a required property"),
    (dict(GVT, mdev_atrs=[]), '(top level)', "'mdev_atrs' was unexpected"),
    (dict(GVT, **{'vfio-ccw': {}}), '(top level)', 'unexpected'),
    ({k: v for k, v in GVT.items() if k != 'mdev_type'}, '(top level)',
     "'mdev_type' is a dependency of 'mdev_attrs'"),
    (dict(GVT, mdev_attrs=[{'a': '1', 'b': '2'}]), 'mdev_attrs[0]',
     'has too many properties'),
    (dict(GVT, vendor=''), 'vendor', 'should be non-empty'),
    (dict(GVT, vendor='a\nb'), 'vendor',
     "'a\\nb' must not contain control characters"),
    (dict(GVT, vendor=True), 'vendor', "True is not of type 'string'"),
    (dict(GVT, device_api='VFIO PCI'), 'device_api',
     "'VFIO PCI' must be lower case letters"),
    ({'self': GVT, 'compatible': []}, 'compatible', 'should be non-empty'),
    ({'self': GVT, 'compatible': [dict(GVT, version={'major': 'x',
                                                     'minor': 1})]},
     'compatible[0].version.major', ''),
    ({'self': dict(GVT, version={'major': 1, 'minor': 2, 'minor_min': 1})},
     'self.version', "'minor_min' was unexpected"),
    ({'self': GVT, 'extra': 1}, '(top level)', "'extra' was unexpected"),
])
def test_invalid_documents_name_source_and_place(data, path, fragment):
    error = _error(data)
    assert error.source == 'doc.yaml'
    assert error.path == path
    assert fragment in error.message
    assert str(error).startswith('doc.yaml: at %s: ' % path)


@pytest.mark.parametrize('text, fragment', [
    ('{"device_api": ', 'is not valid JSON'),
    ('device_api: [', 'is not valid YAML: line 1'),
    ('a: &x [1]\nb: *x\n', 'YAML aliases are not allowed'),
    (b'\xff\xfe', 'is not UTF-8'),
    ('[1, 2]', 'must be a mapping, not list'),
    ('just a string', 'must be a mapping, not str'),
    ('', 'must be a mapping, not NoneType'),
    ('{1: 2}', 'key 1 is not a string'),
    ('[' * 100000, 'nested too deeply'),
])
def test_unparseable_text_names_the_source(text, fragment):
    error = _error(text)
    assert str(error).startswith('doc.yaml')
    assert fragment in str(error)


def test_size_limit_is_checked_before_parsing():
    with pytest.raises(records.InvalidDocument) as e:
        records.loads('x' * 100, 'big.yaml', max_bytes=10)
    assert 'larger than the limit of 10 bytes' in str(e.value)


def test_file_reading_names_the_file(tmp_path):
    path = tmp_path / 'dev.yaml'
    path.write_text(GVT_YAML)
    assert files.load_document(path).source == str(path)

    with pytest.raises(records.InvalidDocument) as e:
        files.load_document(tmp_path / 'missing.yaml')
    assert str(tmp_path / 'missing.yaml') in str(e.value)
    assert 'cannot be read' in str(e.value)

    path.write_bytes(b'#' * 2000)
    with pytest.raises(records.InvalidDocument) as e:
        files.load_document(path, max_bytes=1000)
    assert 'larger than the limit of 1000 bytes' in str(e.value)


def test_identity_ignores_minor_and_what_to_create():
    a = records.parse_document(GVT, 'a').emits
    b = records.parse_document(
        dict(GVT, version={'major': 1, 'minor': 7}, mdev_type='other',
             mdev_attrs=[]), 'b').emits
    c = records.parse_document(dict(GVT, vendor='i915 '), 'c').emits
    assert a.identity == b.identity
    assert a.identity_key() == b.identity_key()
    assert a.identity != c.identity
    assert a.family == records.parse_document(
        dict(GVT, version={'major': 9, 'minor': 0}), 'd').emits.family
