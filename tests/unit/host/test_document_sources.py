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

"""Source precedence: attribute > capability file > derived, with every
rejected source named in the device's errors."""

import json

import pytest

from nova_vfio_compat.host.discovery import capability_files
from nova_vfio_compat.host.discovery import document_sources
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import records

IDS = {'vendor': '0x10de', 'device': '0x1eb8', 'subsystem_vendor': '0x10de',
       'subsystem_device': '0x12a2'}


def record(minor, mdev_type='nvidia-222'):
    data = {'device_api': 'vfio-pci', 'vendor': 'nvidia',
            'version': {'major': 17, 'minor': minor}, 'vfio-pci': IDS}
    if mdev_type:
        data['mdev_type'] = mdev_type
    return data


def setup(tmp_path, attribute=None, file_doc=None):
    device_dir = tmp_path / 'dev'
    device_dir.mkdir()
    caps = tmp_path / 'caps'
    caps.mkdir()
    if attribute is not None:
        (device_dir / 'migration_compat').write_text(attribute)
    if file_doc is not None:
        (caps / 'a.json').write_text(json.dumps({'capabilities': [
            {'match': {'driver': 'nvidia'}, 'document': file_doc}]}))
    target = nvc_devices.Device(
        kind='mdev_type', address='0000:3b:00.0', sys_path=str(device_dir),
        device_api='vfio-pci', driver='nvidia', driver_version='550.54.14',
        pci_ids=(0x10de, 0x1eb8, 0x10de, 0x12a2), mdev_type='nvidia-222',
        mdevs=('u1',), available_instances=3)
    catalogue = capability_files.load([str(caps)])
    device = document_sources.resolve(target, catalogue, 'migration_compat',
                                      65536, 'k1').device
    return device, str(device_dir / 'migration_compat'), str(caps / 'a.json')


def test_the_attribute_wins(tmp_path):
    device, attr, _ = setup(tmp_path, json.dumps(record(5)), record(4))
    assert device.provenance == 'attribute:' + attr
    assert device.document.emits.minor == 5
    assert device.errors == ()
    assert (device.mdevs, device.available_instances) == (('u1',), 3)
    assert device.document.source == attr


def test_then_the_file(tmp_path):
    device, _, path = setup(tmp_path, None, record(4))
    assert device.provenance == 'file:%s#capabilities[0]' % path
    assert device.document.emits.minor == 4
    assert device.errors == ()


def test_then_derived(tmp_path):
    device, _, _ = setup(tmp_path)
    assert device.provenance == 'derived'
    assert dict(device.document.emits.bus).get('driver_version') == '550.54.14'
    assert device.document.emits.mdev_type == 'nvidia-222'


def test_the_attribute_is_json_only(tmp_path):
    yaml_text = 'device_api: vfio-pci\nvendor: nvidia\n'
    device, attr, path = setup(tmp_path, yaml_text, record(4))
    (error,) = device.errors
    assert error.startswith(attr + ': is not valid JSON')
    assert device.provenance.startswith('file:')


def test_an_attribute_for_another_mdev_type_is_refused(tmp_path):
    device, attr, _ = setup(tmp_path, json.dumps(record(5, 'nvidia-230')))
    assert device.errors == (
        '%s: describes mdev type nvidia-230, not nvidia-222; falling back '
        'to capability files' % attr,)
    assert device.provenance == 'derived'


def test_every_rejected_source_is_named(tmp_path):
    bad_doc = dict(record(4), version={'major': -1, 'minor': 0})
    device, attr, path = setup(tmp_path, '{', bad_doc)
    assert len(device.errors) == 2
    assert device.errors[0].startswith(attr + ': is not valid JSON')
    assert device.errors[1].startswith(
        path + ': capabilities[0].document: at version.major')
    assert device.provenance == 'derived'


def test_no_source_at_all(tmp_path):
    device_dir = tmp_path / 'dev'
    device_dir.mkdir()
    target = nvc_devices.Device(kind='pci', address='0000:01:00.0',
                                sys_path=str(device_dir), driver='vfio-pci',
                                device_api='vfio-pci', pci_ids=(),
                                errors=('PCI IDs unreadable',))
    device = document_sources.resolve(target, capability_files.Catalogue(),
                                      'migration_compat', 65536,
                                      'k1').device
    assert device.document is None
    assert device.provenance is None
    assert device.errors == (
        'PCI IDs unreadable',
        'no derived document could be built: its PCI IDs are unknown')


def test_read_attribute_refuses_a_large_one(tmp_path):
    path = tmp_path / 'attr'
    path.write_text(json.dumps(record(1)) + ' ' * 1000)
    with pytest.raises(records.InvalidDocument) as e:
        document_sources.read_attribute(str(path), 256)
    assert str(e.value) == '%s: is larger than the limit of 256 bytes' % path


@pytest.mark.parametrize('text,reason', [
    ('{"device_api": "vfio-pci", "device_api": "vfio-pci"}',
     "duplicate key 'device_api'"),
    ('{"version": {"major": %s}}' % ('9' * 40),
     'at version.major: an integer of 40 digits is longer than the limit'),
])
def test_the_attribute_is_parsed_as_strictly_as_a_file(
        tmp_path, text, reason):
    device, attr, path = setup(tmp_path, text, record(4))
    (error,) = device.errors
    assert error.startswith('%s: %s' % (attr, reason))
    assert device.provenance.startswith('file:')
