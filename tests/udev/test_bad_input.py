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

"""Bad input is reported once, naming the device or file; that device
falls back to its next source and every other device is unaffected."""

import logging

from nova_vfio_compat.host import discovery

SYS = '/sys/devices/pci0000:d7/0000:d8:00.%d/migration_compat'

# A capability file for every ConnectX-6 Dx VF on mlx5_vfio_pci.
MLX5_FILE = '''
capabilities:
  - match:
      driver: mlx5_vfio_pci
      pci_ids: [{vendor: 0x15b3, device: 0x101e}]
    document:
      device_api: vfio-pci
      vendor: mlx5_vfio_pci
      version: {major: 28, minor: 40}
      vfio-pci: {vendor: 0x15b3, device: 0x101e, subsystem_vendor: 0x15b3,
                 subsystem_device: 0x0016}
'''

# The same for such a VF on mlx5_vfio_pci or on plain vfio-pci.
MLX5_ANY_DRIVER = MLX5_FILE.replace('driver: mlx5_vfio_pci',
                                    'driver: [mlx5_vfio_pci, vfio-pci]')


def by_name(devices):
    return {d.name: d for d in devices}


def _assert_neighbour_unaffected(devices):
    good = devices['0000:d8:00.5']
    assert good.provenance == 'attribute:' + SYS % 5
    assert good.errors == ()
    assert good.document.emits.minor == 41


def test_broken_attributes_fall_back_to_capability_files(bed, conf, caps):
    bed.load('broken-attributes')
    (caps / '50-mlx5.yaml').write_text(MLX5_FILE)
    devices = by_name(discovery.discover(conf, bed.context()))

    expected = {
        1: 'is not valid JSON',
        2: "at (top level): 'device_api' is a required property",
        3: 'is a directory, not a regular file',
    }
    for n, reason in expected.items():
        device = devices['0000:d8:00.%d' % n]
        (error,) = device.errors
        assert error.startswith(SYS % n + ': ')
        assert reason in error
        assert device.provenance == 'file:%s#capabilities[0]' % (
            caps / '50-mlx5.yaml')
        assert device.document.emits.minor == 40
    _assert_neighbour_unaffected(devices)


def test_broken_attributes_fall_back_to_derived(bed, conf):
    bed.load('broken-attributes')
    devices = by_name(discovery.discover(conf, bed.context()))
    for n in (1, 2, 3):
        device = devices['0000:d8:00.%d' % n]
        assert device.provenance == 'derived'
        assert device.document.emits.vendor == 'mlx5_vfio_pci'
        assert len(device.errors) == 1
    _assert_neighbour_unaffected(devices)


def test_an_attribute_over_the_size_limit_is_refused(bed, conf):
    bed.load('broken-attributes')
    # d8:00.4's document is 457 bytes, d8:00.5's 189.
    conf.set_override('max_document_size', 300, group='discovery')
    devices = by_name(discovery.discover(conf, bed.context()))
    big = devices['0000:d8:00.4']
    assert big.errors == (
        '%s: is larger than the limit of 300 bytes; falling back to '
        'capability files' % (SYS % 4),)
    assert big.provenance == 'derived'
    _assert_neighbour_unaffected(devices)

    conf.clear_override('max_document_size', group='discovery')
    big = by_name(discovery.discover(conf, bed.context()))['0000:d8:00.4']
    assert big.provenance == 'attribute:' + SYS % 4
    assert big.errors == ()


def test_each_problem_is_logged_once_while_it_persists(bed, conf, caplog,
                                                       monkeypatch):
    # What was logged by the earlier tests' passes does not count.
    monkeypatch.setattr(discovery, '_reported', discovery._OncePerProblem())
    bed.load('broken-attributes')
    caplog.set_level(logging.WARNING)
    context = bed.context()
    discovery.discover(conf, context)
    first = [r.getMessage() for r in caplog.records]
    assert len([m for m in first if SYS % 1 in m]) == 1
    assert len([m for m in first if SYS % 3 in m]) == 1
    assert not [m for m in first if '0000:d8:00.5' in m]

    caplog.clear()
    discovery.discover(conf, context)
    assert [r.getMessage() for r in caplog.records] == []


def test_bad_capability_files(bed, conf, caps):
    bed.load('broken-attributes', 'qat-vf', 'mlx5-sriov')
    (caps / '10-broken.json').write_text('{"capabilities": [')
    (caps / '20-bad-document.yaml').write_text('''
capabilities:
  - match: {driver: qat_vfio_pci}
    document: {device_api: vfio-pci, vendor: qat_vfio_pci,
               version: {major: one, minor: 0},
               vfio-pci: {vendor: 0x8086, device: 0x4941,
                          subsystem_vendor: 0x8086, subsystem_device: 0}}
''')
    (caps / '30-huge.yaml').write_text(
        '# padding\n' * 7000 + MLX5_FILE)
    (caps / '40-bad-match.yaml').write_text('''
capabilities:
  - match: {driver_version: ">=1.0"}
    document: {}
''')
    (caps / '50-mlx5.yaml').write_text(MLX5_ANY_DRIVER)
    result = discovery.scan(conf, bed.context())
    devices = by_name(result.devices)

    errors = sorted(result.file_errors)
    assert len(errors) == 3
    assert errors[0].startswith(str(caps / '10-broken.json') +
                                ': is not valid JSON')
    assert errors[1].startswith(str(caps / '30-huge.yaml') +
                                ': is larger than the limit of 65536 bytes')
    assert errors[2].startswith(str(caps / '40-bad-match.yaml') +
                                ': at capabilities[0].match: ')

    # The QAT VF is claimed by an entry whose document is invalid: told
    # so, naming the file, and derived.
    qat = devices['0000:6b:00.1']
    assert qat.provenance == 'derived'
    (error,) = qat.errors
    assert error.startswith(
        '%s: capabilities[0].document: at version.major: '
        % (caps / '20-bad-document.yaml'))
    assert error.endswith('; entry ignored')

    # The good file still applies to its devices.
    assert devices['0000:5e:00.3'].provenance == (
        'file:%s#capabilities[0]' % (caps / '50-mlx5.yaml'))
    assert devices['0000:5e:00.3'].errors == ()
    assert devices['0000:5e:00.2'].provenance.startswith('attribute:')
    _assert_neighbour_unaffected(devices)


def test_two_files_claiming_a_device_the_later_name_wins(bed, conf, caps):
    bed.load('mlx5-sriov')
    (caps / '90-local.yaml').write_text(MLX5_ANY_DRIVER.replace(
        'minor: 40', 'minor: 42'))
    (caps / '50-vendor.yaml').write_text(MLX5_ANY_DRIVER)
    result = discovery.scan(conf, bed.context())
    device = by_name(result.devices)['0000:5e:00.3']

    assert device.provenance == 'file:%s#capabilities[0]' % (
        caps / '90-local.yaml')
    assert device.document.emits.minor == 42
    (warning,) = result.warnings
    assert '0000:5e:00.3' in warning
    assert str(caps / '50-vendor.yaml') in warning
    assert str(caps / '90-local.yaml') in warning


def test_an_mdev_parent_with_unreadable_ids_names_it_in_each_type(
        bed, conf):
    bed.load('nvidia-t4-vgpu')
    bed.module_version('nvidia', '550.54.14')
    parent = '/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0'
    bed.testbed.set_attribute(parent, 'subsystem_device', 'not hex')
    devices = by_name(discovery.discover(conf, bed.context()))
    for mdev_type in ('nvidia-222', 'nvidia-230'):
        device = devices['0000:3b:00.0 (mdev type %s)' % mdev_type]
        assert device.pci_ids == ()
        assert device.document is None
        (unreadable, underived) = device.errors
        assert unreadable.startswith(parent + ': cannot read its PCI IDs')
        assert underived == ('no derived document could be built: its PCI '
                             'IDs are unknown')
