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

"""The YAML examples of the capability document reference are valid input
for the code that reads each kind, and mean what the page says."""

import os
import re
import textwrap

import pytest
import yaml

from nova_vfio_compat import devices as nvc_devices
from nova_vfio_compat.discovery import capability_files
from nova_vfio_compat import records
from nova_vfio_compat.reporter import device_list

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PAGE = os.path.join(REPO, 'doc', 'source', 'reference',
                    'capability-documents.rst')


def yaml_blocks():
    with open(PAGE) as f:
        text = f.read()
    blocks = re.findall(r'\.\. code-block:: yaml\n\n((?:   .*\n|\n)+)', text)
    return [textwrap.dedent(b) for b in blocks]


def blocks_of(key):
    return [b for b in yaml_blocks() if key in yaml.safe_load(b)]


def test_the_page_has_each_kind_of_example():
    assert len(yaml_blocks()) >= 4
    assert blocks_of('capabilities') and blocks_of('devices')
    assert blocks_of('self') and blocks_of('device_api')


@pytest.mark.parametrize('key', ['device_api', 'self'])
def test_record_and_document_examples_are_valid(key):
    for block in blocks_of(key):
        doc = records.loads(block, 'example')
        assert doc.accepts


def _t4(driver_version):
    return nvc_devices.Device(
        kind=nvc_devices.KIND_MDEV_TYPE, address='0000:3b:00.0',
        sys_path='/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0',
        driver='nvidia', driver_version=driver_version,
        pci_ids=(0x10de, 0x1eb8, 0x10de, 0x12a2), mdev_type='nvidia-222')


def test_capability_file_example_is_valid_and_matches_as_described():
    (block,) = blocks_of('capabilities')
    (entry,) = capability_files.parse_file(yaml.safe_load(block), 'example')
    assert entry.error is None and entry.document is not None
    # driver_version ">=550.54, <551"
    assert entry.matches(_t4('550.54.14'))
    assert not entry.matches(_t4('551.0'))
    assert not entry.matches(_t4('535.129.03'))
    assert not entry.matches(_t4(None))


def test_device_list_example_is_valid(tmp_path):
    (block,) = blocks_of('devices')
    path = tmp_path / 'devices.yaml'
    path.write_text(block)
    (tmp_path / 't4-grid17.yaml').write_text(
        'device_api: vfio-pci\nvendor: nvidia\n'
        'version: {major: 17, minor: 4}\n'
        'vfio-pci: {vendor: 0x10de, device: 0x1eb8, '
        'subsystem_vendor: 0x10de, subsystem_device: 0x12a2}\n'
        'mdev_type: nvidia-222\n')

    mdev, vf = device_list.load(str(path))

    assert (mdev.kind, mdev.mdev_type) == (nvc_devices.KIND_MDEV_TYPE,
                                           'nvidia-222')
    assert mdev.document is not None and not mdev.errors
    # Relative to the list's file; the absolute one does not exist here,
    # which is reported on that device alone.
    assert (vf.kind, vf.physfn) == (nvc_devices.KIND_PCI, '0000:81:00.0')
    assert vf.document is None and vf.errors
