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

import os
import shutil

import pytest

from nova_vfio_compat.host import device_list
from nova_vfio_compat.host import files
from nova_vfio_compat.model import devices
from nova_vfio_compat.model import records
from tests import reporter_devices as rd


def test_loads_devices_with_relative_documents(tmp_path):
    shutil.copy(os.path.join(rd.SAMPLES, 'mlx5-vf-fw28.41.yaml'), tmp_path)
    (tmp_path / 'bad.yaml').write_text('device_api: [')
    path = tmp_path / 'devices.yaml'
    path.write_text(
        "devices:\n"
        "  - {address: '0000:81:00.2', document: mlx5-vf-fw28.41.yaml,\n"
        "     physfn: '0000:81:00.0'}\n"
        "  - {address: '0000:00:02.0', kind: mdev_type,\n"
        "     mdev_type: i915-GVTg_V5_8, document: bad.yaml}\n")
    good, bad = device_list.load(str(path))
    assert good.kind == devices.KIND_PCI and good.physfn == '0000:81:00.0'
    assert good.document == rd.doc('mlx5-vf-fw28.41.yaml')
    assert good.provenance.endswith('mlx5-vf-fw28.41.yaml')
    assert bad.document is None and bad.mdev_type == 'i915-GVTg_V5_8'
    assert 'bad.yaml' in bad.errors[0]


@pytest.mark.parametrize('text, message', [
    ('devices: {}', 'a "devices" list'),
    ('devices: [{kind: pci}]', 'needs an "address"'),
    ("devices: [{address: 'x', kind: usb}]", 'kind must be one of'),
    ("devices: [{address: 'x', kind: mdev_type}]", 'needs "mdev_type"'),
    ('devices: [', 'not valid YAML'),
    ("devices: [{address: '0000:00:02.0', mdevs: 'u'}]",
     "mdevs: 'u' is not of type 'array'"),
    ("devices: [{address: '0000:00:02.0', available_instances: -1}]",
     'available_instances: -1 is less than the minimum of 0'),
    ("devices: [{address: '0000:00:02.0', migration_enabled: 1}]",
     "migration_enabled: 1 is not of type 'boolean'"),
])
def test_malformed_lists_are_refused_naming_the_file(tmp_path, text,
                                                     message):
    path = tmp_path / 'devices.yaml'
    path.write_text(text)
    with pytest.raises(records.InvalidDocument) as e:
        device_list.load(str(path))
    assert str(path) in str(e.value) and message in str(e.value)


def test_a_device_list_with_a_duplicate_key_is_refused(tmp_path):
    path = tmp_path / 'devices.yaml'
    path.write_text("devices:\n  - address: '0000:81:00.2'\n"
                    "    address: '0000:81:00.3'\n")
    with pytest.raises(records.InvalidDocument) as e:
        device_list.load(str(path))
    assert str(e.value).startswith(str(path))
    assert "duplicate key 'address'" in str(e.value)


def test_an_entry_says_which_mdevs_its_gpu_holds(tmp_path):
    path = tmp_path / 'devices.yaml'
    path.write_text("devices: [{address: '0000:00:02.0', kind: mdev_type, "
                    "mdev_type: t, mdevs: [u1, u2], "
                    "available_instances: 0}]")
    (device,) = device_list.load(str(path))
    assert device.mdevs == ('u1', 'u2') and device.available_instances == 0


@pytest.mark.parametrize('entry, where, says', [
    # A newline and a section header in a type: it would reach nova.conf.
    ("{address: '0000:3b:00.0', kind: mdev_type, "
     "mdev_type: \"nvidia-222\\n[DEFAULT]\\ndebug = true\", document: d}",
     'devices[0].mdev_type', 'must be letters'),
    ("{address: '0000:3b:00.0\\n[DEFAULT]', document: d}",
     'devices[0].address', 'not a PCI address'),
    ("{address: 'x', document: d}", 'devices[0].address',
     'not a PCI address'),
    ("{address: '0000:81:00.2', document: [a, b]}", 'devices[0].document',
     'is not of type'),
    ("{address: '0000:81:00.2', document: d, physfn: 7}",
     'devices[0].physfn', 'is not of type'),
    ("{address: '0000:81:00.2', document: d, driver: {a: 1}}",
     'devices[0].driver', 'is not of type'),
    ("{address: '0000:81:00.2', document: d, mdev_typ: x}", 'devices[0]',
     'mdev_typ'),
    ("{address: '0000:81:00.2', document: d, driver: \"a\\tb\"}",
     'devices[0].driver', 'control characters'),
])
def test_entries_are_type_checked_like_documents(tmp_path, entry, where,
                                                 says):
    path = tmp_path / 'devices.yaml'
    path.write_text('devices:\n  - %s\n' % entry)
    with pytest.raises(records.InvalidDocument) as e:
        device_list.load(str(path))
    message = str(e.value)
    assert message.startswith('%s: at %s' % (path, where)), message
    assert says in message
    assert '\n' not in message


def test_an_unreadable_document_is_held_for_the_reporter(tmp_path):
    path = tmp_path / 'devices.yaml'
    path.write_text("devices:\n  - {address: '0000:81:00.2', "
                    "document: fifo.yaml}\n")
    os.mkfifo(tmp_path / 'fifo.yaml')
    # The commands show the device with its error ...
    (device,) = device_list.load(str(path))
    assert 'FIFO' in device.errors[0]
    # ... the reporter publishes nothing from the list.
    with pytest.raises(files.Unreadable, match='fifo.yaml'):
        device_list.load(str(path), hold_unreadable=True)
