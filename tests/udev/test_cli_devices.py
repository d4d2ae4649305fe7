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

"""``nova-vfio-compat devices`` on emulated hosts, run in-process."""

import json
import os

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits

MLX5_FILE = '''
capabilities:
  - description: ConnectX-6 Dx VFs on plain vfio-pci (test data)
    match:
      driver: vfio-pci
      pci_ids: [{vendor: 0x15b3, device: 0x101e}]
    document:
      device_api: vfio-pci
      vendor: mlx5_vfio_pci
      version: {major: 28, minor: 40}
      vfio-pci: {vendor: 0x15b3, device: 0x101e, subsystem_vendor: 0x15b3,
                 subsystem_device: 0x0016}
'''


def run(tmp_path, caps, capsys, *args):
    config = tmp_path / 'nova-vfio-compat.conf'
    config.write_text('[discovery]\ncapability_dirs = %s\n' % caps)
    status = cli.main(['--config-file', str(config), 'devices'] +
                      list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_json_shows_documents_provenance_and_traits(bed, tmp_path, caps,
                                                    capsys):
    bed.load('mlx5-sriov', 'nvidia-t4-vgpu', 'ignored')
    bed.module_version('nvidia', '550.54.14')
    (caps / '50-mlx5.yaml').write_text(MLX5_FILE)
    status, out, err = run(tmp_path, caps, capsys, '--json')
    assert status == 0, err
    items = {(i['address'], i['mdev_type']): i for i in json.loads(out)}
    assert sorted(items) == [
        ('0000:3b:00.0', 'nvidia-222'), ('0000:3b:00.0', 'nvidia-230'),
        ('0000:5e:00.2', None), ('0000:5e:00.3', None)]

    attr = items[('0000:5e:00.2', None)]
    path = ('/sys/devices/pci0000:5d/0000:5d:02.0/0000:5e:00.2/'
            'migration_compat')
    assert attr['provenance'] == 'attribute:' + path
    with open(path) as f:
        expected = records.loads(f.read())
    assert attr['document'] == records.document_to_dict(expected)
    assert attr['traits'] == sorted(traits.document_traits(expected))
    assert attr['resource_class'] == traits.resource_class(expected.emits)
    assert (attr['kind'], attr['driver'], attr['errors']) == (
        'pci', 'mlx5_vfio_pci', [])

    filed = items[('0000:5e:00.3', None)]
    assert filed['provenance'] == 'file:%s#capabilities[0]' % (
        caps / '50-mlx5.yaml')
    assert filed['document']['self']['version'] == {'major': 28,
                                                    'minor': 40}
    # Same stream family as the variant-driver VF, version 28.40: the
    # 28.43 VF accepts it, so one of its accept traits (the block 40..43)
    # receives 28.40.
    emit = [t for t in filed['traits'] if traits.is_emit(t)]
    assert [t for t in attr['traits']
            if t in traits.accept_traits_for(emit[0])] == [
        t for t in attr['traits'] if t.endswith('_M40_43')]

    vgpu = items[('0000:3b:00.0', 'nvidia-222')]
    assert vgpu['provenance'] == 'derived'
    assert vgpu['driver_version'] == '550.54.14'
    assert vgpu['mdevs'] == ['6f0c5e1a-2b43-4c1e-9d0f-1a2b3c4d5e6f']
    assert vgpu['document']['self']['mdev_type'] == 'nvidia-222'
    assert vgpu['document']['self']['vfio-pci']['driver_version'] == (
        '550.54.14')
    # Emits and accepts its own 0.0, and names its type, as published.
    assert len(vgpu['traits']) == 3
    assert traits.mdev_type_trait('nvidia-222') in vgpu['traits']


def test_human_output_and_errors(bed, tmp_path, caps, capsys):
    bed.load('broken-attributes')
    (caps / '10-broken.yaml').write_text('capabilities: [')
    status, out, err = run(tmp_path, caps, capsys)
    # Every device still has a document (derived): exit 0.
    assert status == 0
    block = out.split('0000:d8:00.1\n')[1].split('0000:d8:00.2\n')[0]
    assert '  provenance:  derived' in block
    assert ('  error:       /sys/devices/pci0000:d7/0000:d8:00.1/'
            'migration_compat: is not valid JSON') in block
    assert '  emits:       vfio-pci mlx5_vfio_pci 15b3:101e' in block
    assert 'capability file error: %s: is not valid YAML' % (
        caps / '10-broken.yaml') in out
    # Each problem is shown once, with its device; there is no tie here.
    assert out.count('0000:d8:00.1/migration_compat') == 1
    assert 'warning:' not in out


def test_no_devices(bed, tmp_path, caps, capsys):
    bed.load('ignored')
    status, out, err = run(tmp_path, caps, capsys)
    assert status == 0
    assert out.startswith('No VFIO devices found')
    status, out, err = run(tmp_path, caps, capsys, '--json')
    assert json.loads(out) == []


def test_a_device_without_a_document_exits_1(bed, tmp_path, caps, capsys):
    # An mdev type whose device_api cannot be read has no derived record.
    bed.load('nvidia-t4-vgpu')
    bed.module_version('nvidia', '550.54.14')
    os.remove(os.path.join(
        bed.sys_dir, 'devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/'
        'mdev_supported_types/nvidia-230/device_api'))
    status, out, err = run(tmp_path, caps, capsys, '--json')
    assert status == 1
    items = {i['mdev_type']: i for i in json.loads(out)}
    assert items['nvidia-230']['document'] is None
    assert items['nvidia-230']['errors'] == [
        'no derived document could be built: the device API is unknown']
    assert items['nvidia-222']['document'] is not None


def test_one_device_that_cannot_be_described_hides_no_other(
        bed, tmp_path, caps, capsys, monkeypatch):
    # A bug in the trait encoding for one device (no valid document
    # provokes one any more, so it is planted): the others are listed.
    bed.load('mlx5-sriov', 'nvidia-t4-vgpu')
    bed.module_version('nvidia', '550.54.14')
    real = traits.document_traits

    def buggy_for_nvidia(document, *args):
        if document.emits.mdev_type == 'nvidia-222':
            raise TypeError("'float' object cannot be interpreted as an "
                            "integer")
        return real(document, *args)

    monkeypatch.setattr(traits, 'document_traits', buggy_for_nvidia)
    status, out, err = run(tmp_path, caps, capsys, '--json')
    assert status == 1
    items = {(i['address'], i['mdev_type']): i for i in json.loads(out)}
    assert len(items) == 4
    bad = items[('0000:3b:00.0', 'nvidia-222')]
    # Publication names the fault; the device is still described.
    assert bad['traits'] == [] and bad['document'] is not None
    assert not bad['published']
    assert bad['errors'] == [
        "0000:3b:00.0 (mdev type nvidia-222): its traits cannot be "
        "computed (TypeError: 'float' object cannot be interpreted as an "
        "integer)"]
    assert items[('0000:3b:00.0', 'nvidia-230')]['traits']
    assert items[('0000:5e:00.2', None)]['traits']


def test_human_output_lists_the_traits_the_reporter_publishes(
        bed, tmp_path, caps, capsys):
    """A vGPU's list is its published traits, its mdev type's included."""
    bed.load('nvidia-t4-vgpu')
    bed.module_version('nvidia', '550.54.14')
    status, out, err = run(tmp_path, caps, capsys, '--json')
    assert status == 0, err
    items = {i['mdev_type']: i for i in json.loads(out)}
    status, out, err = run(tmp_path, caps, capsys)
    assert status == 0, err
    for mdev_type, item in items.items():
        block = out.split('0000:3b:00.0 mdev type %s\n' % mdev_type)[1]
        block = block.split('\n0000:')[0]
        listed = [line.strip() for line in block.split('\n')
                  if line.startswith('    ')]
        if item['published']:
            assert '  traits:\n' in block
            assert listed == item['published_traits']
            assert traits.mdev_type_trait(mdev_type) in listed
        else:
            assert '  traits (not published):\n' in block
            assert listed == item['traits']
            # What it would publish were Nova to use its type.
            assert traits.mdev_type_trait(mdev_type) in listed
    assert any(i['published'] for i in items.values())


def test_a_device_the_command_cannot_describe_hides_no_other(
        bed, tmp_path, caps, capsys, monkeypatch):
    # A bug in the command's own rendering of one device (planted: no
    # valid document provokes one): it is named, the others listed.
    bed.load('mlx5-sriov', 'nvidia-t4-vgpu')
    bed.module_version('nvidia', '550.54.14')
    real = records.document_to_dict

    def buggy_for_nvidia(document):
        if document.emits.mdev_type == 'nvidia-222':
            raise KeyError('self')
        return real(document)

    monkeypatch.setattr(records, 'document_to_dict', buggy_for_nvidia)
    status, out, err = run(tmp_path, caps, capsys, '--json')
    assert status == 1
    items = {(i['address'], i['mdev_type']): i for i in json.loads(out)}
    assert len(items) == 4
    bad = items[('0000:3b:00.0', 'nvidia-222')]
    assert bad['traits'] == [] and bad['document'] is None
    assert bad['errors'] == [
        "0000:3b:00.0 (mdev type nvidia-222): cannot be described "
        "(KeyError: 'self')"]
    assert items[('0000:3b:00.0', 'nvidia-230')]['traits']
    assert items[('0000:5e:00.2', None)]['traits']
