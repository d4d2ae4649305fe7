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

"""Each fixture tree yields the devices and documents that reading its
sysfs by hand gives."""

import os
import platform

from nova_vfio_compat.host import discovery
from nova_vfio_compat.model import records
from tests.udev import conftest as udev_conftest

MLX5_IDS = {'vendor': 0x15b3, 'device': 0x101e,
            'subsystem_vendor': 0x15b3, 'subsystem_device': 0x0016}
T4_IDS = {'vendor': 0x10de, 'device': 0x1eb8,
          'subsystem_vendor': 0x10de, 'subsystem_device': 0x12a2}
GVT_IDS = {'vendor': 0x8086, 'device': 0x591d,
           'subsystem_vendor': 0x8086, 'subsystem_device': 0x2212}
SYS_MLX5 = '/sys/devices/pci0000:5d/0000:5d:02.0'


def doc(data):
    return records.parse_document(data, 'expected')


def by_name(devices):
    return {d.name: d for d in devices}


def test_nvidia_t4_one_device_per_vgpu_type(bed, conf):
    bed.load('nvidia-t4-vgpu')
    bed.module_version('nvidia', '550.54.14')
    devices = discovery.discover(conf, bed.context())

    assert [d.name for d in devices] == [
        '0000:3b:00.0 (mdev type nvidia-222)',
        '0000:3b:00.0 (mdev type nvidia-230)']
    t1b, t4q = devices
    for device, mdev_type in ((t1b, 'nvidia-222'), (t4q, 'nvidia-230')):
        assert device.kind == 'mdev_type'
        assert device.driver == 'nvidia'
        assert device.driver_version == '550.54.14'
        assert device.pci_ids == (0x10de, 0x1eb8, 0x10de, 0x12a2)
        assert device.iommu_group == '40'
        assert device.provenance == 'derived'
        assert device.errors == ()
        assert device.document == doc({
            'device_api': 'vfio-pci', 'vendor': 'nvidia',
            'version': {'major': 0, 'minor': 0},
            'vfio-pci': dict(T4_IDS, driver_version='550.54.14',
                             mdev_type=mdev_type),
            'mdev_type': mdev_type})
    # The existing vGPU is of type nvidia-222.
    assert t1b.mdevs == ('6f0c5e1a-2b43-4c1e-9d0f-1a2b3c4d5e6f',)
    assert t4q.mdevs == ()
    assert (t1b.available_instances, t4q.available_instances) == (15, 4)
    # Two types never share a stream.
    assert t1b.document.emits.identity != t4q.document.emits.identity


def test_gvtg_types_differ_and_fall_back_to_the_kernel_release(bed, conf):
    bed.load('intel-gvtg')
    devices = discovery.discover(conf, bed.context())

    types = ['i915-GVTg_V5_2', 'i915-GVTg_V5_4', 'i915-GVTg_V5_8']
    assert [d.mdev_type for d in devices] == types
    for device, mdev_type in zip(devices, types):
        assert device.address == '0000:00:02.0'
        # i915 has no /sys/module/i915/version.
        assert device.driver_version is None
        assert device.provenance == 'derived'
        assert device.document == doc({
            'device_api': 'vfio-pci', 'vendor': 'i915',
            'version': {'major': 0, 'minor': 0},
            'vfio-pci': dict(GVT_IDS, kernel_release=platform.release(),
                             mdev_type=mdev_type),
            'mdev_type': mdev_type})
    assert [d.available_instances for d in devices] == [1, 3, 7]
    assert len({d.document.emits.identity for d in devices}) == 3


def test_mlx5_vfs_attribute_and_derived_pf_ignored(bed, conf):
    bed.load('mlx5-sriov')
    bed.module_version('mlx5_vfio_pci', '6.1.0-test')
    devices = by_name(discovery.discover(conf, bed.context()))

    # The PF on mlx5_core is not VFIO-relevant.
    assert sorted(devices) == ['0000:5e:00.2', '0000:5e:00.3']
    variant = devices['0000:5e:00.2']
    attribute = SYS_MLX5 + '/0000:5e:00.2/migration_compat'
    assert variant.provenance == 'attribute:' + attribute
    assert variant.driver == 'mlx5_vfio_pci'
    assert variant.driver_version == '6.1.0-test'
    assert variant.physfn == '0000:5e:00.0'
    assert variant.iommu_group == '61'
    assert variant.errors == ()
    with open(attribute) as f:
        assert variant.document == records.loads(f.read())
    assert variant.document.emits.minor == 43
    assert variant.document.accepts[0].minor_min == 39

    plain = devices['0000:5e:00.3']
    assert plain.kind == 'pci'
    assert plain.driver == 'vfio-pci'
    assert plain.physfn == '0000:5e:00.0'
    assert plain.iommu_group == '62'
    assert plain.provenance == 'derived'
    assert plain.document == doc({
        'device_api': 'vfio-pci', 'vendor': 'vfio-pci',
        'version': {'major': 0, 'minor': 0},
        'vfio-pci': dict(MLX5_IDS, kernel_release=platform.release())})


def test_qat_vf_on_its_variant_driver(bed, conf):
    bed.load('qat-vf')
    bed.module_version('qat_vfio_pci', '1.0')
    (vf,) = discovery.discover(conf, bed.context())

    assert (vf.address, vf.kind, vf.driver) == (
        '0000:6b:00.1', 'pci', 'qat_vfio_pci')
    assert vf.physfn == '0000:6b:00.0'
    assert vf.document == doc({
        'device_api': 'vfio-pci', 'vendor': 'qat_vfio_pci',
        'version': {'major': 0, 'minor': 0},
        'vfio-pci': {'vendor': 0x8086, 'device': 0x4941,
                     'subsystem_vendor': 0x8086, 'subsystem_device': 0,
                     'driver_version': '1.0'}})


def test_nvme_vfs_vfio_pci_and_a_variant_found_by_vfio_dev(bed, conf):
    bed.load('nvme-vf')
    # vfio-pci's module is vfio_pci: the name is folded as the kernel does.
    bed.module_version('vfio_pci', '0.2')
    devices = by_name(discovery.discover(conf, bed.context()))

    assert sorted(devices) == ['0000:b1:00.1', '0000:b1:00.2']
    assert devices['0000:b1:00.1'].driver_version == '0.2'
    bus = dict(devices['0000:b1:00.1'].document.emits.bus)
    assert bus.get('driver_version') == '0.2'
    variant = devices['0000:b1:00.2']
    assert variant.driver == 'nvmevf_migr'
    assert variant.driver_version is None
    assert variant.document.emits.vendor == 'nvmevf_migr'
    bus = dict(variant.document.emits.bus)
    assert bus.get('kernel_release') == platform.release()


def test_ordinary_devices_are_ignored(bed, conf):
    bed.load('ignored')
    assert discovery.discover(conf, bed.context()) == []
    bed.load('mlx5-sriov')
    assert [d.name for d in discovery.discover(conf, bed.context())] == [
        '0000:5e:00.2', '0000:5e:00.3']


def test_all_trees_at_once(bed, conf):
    bed.load(*udev_conftest.tree_names())
    devices = discovery.discover(conf, bed.context())
    assert [d.name for d in devices] == [
        '0000:00:02.0 (mdev type i915-GVTg_V5_2)',
        '0000:00:02.0 (mdev type i915-GVTg_V5_4)',
        '0000:00:02.0 (mdev type i915-GVTg_V5_8)',
        '0000:3b:00.0 (mdev type nvidia-222)',
        '0000:3b:00.0 (mdev type nvidia-230)',
        '0000:5e:00.2', '0000:5e:00.3', '0000:6b:00.1',
        '0000:b1:00.1', '0000:b1:00.2',
        '0000:d8:00.1', '0000:d8:00.2', '0000:d8:00.3', '0000:d8:00.4',
        '0000:d8:00.5']
    # Every device got a document from some source.
    assert all(d.document is not None for d in devices)


def test_the_shipped_examples_describe_the_fixture_devices(bed, conf, caps):
    examples = os.path.join(os.path.dirname(__file__), '..', '..', 'etc',
                            'nova-vfio-compat', 'capabilities.d')
    bed.load('nvidia-t4-vgpu', 'intel-gvtg', 'broken-attributes')
    bed.module_version('nvidia', '550.54.14')
    # As shipped (".example") they are inert ...
    conf.set_override('capability_dirs', [examples], group='discovery')
    devices = discovery.discover(conf, bed.context())
    assert not any(d.provenance.startswith('file:') for d in devices)

    # ... and once copied without the suffix they apply.
    for name in os.listdir(examples):
        with open(os.path.join(examples, name)) as f:
            (caps / name[:-len('.example')]).write_text(f.read())
    conf.set_override('capability_dirs', [str(caps)], group='discovery')
    provenance = {d.name: d.provenance.split('#')[0]
                  for d in discovery.discover(conf, bed.context())}
    gvt = 'file:%s' % (caps / '50-intel-gvtg.yaml')
    t4 = 'file:%s' % (caps / '50-nvidia-t4-vgpu.yaml')
    mlx5 = 'file:%s' % (caps / '50-mlx5-vf-fw28.yaml')
    assert provenance == {
        '0000:00:02.0 (mdev type i915-GVTg_V5_2)': 'derived',
        '0000:00:02.0 (mdev type i915-GVTg_V5_4)': gvt,
        '0000:00:02.0 (mdev type i915-GVTg_V5_8)': gvt,
        '0000:3b:00.0 (mdev type nvidia-222)': t4,
        '0000:3b:00.0 (mdev type nvidia-230)': t4,
        # Broken attributes fall back to the file; good ones win over it.
        '0000:d8:00.1': mlx5, '0000:d8:00.2': mlx5, '0000:d8:00.3': mlx5,
        '0000:d8:00.4': 'attribute:/sys/devices/pci0000:d7/0000:d8:00.4/'
                        'migration_compat',
        '0000:d8:00.5': 'attribute:/sys/devices/pci0000:d7/0000:d8:00.5/'
                        'migration_compat',
    }

    # A driver outside the example's version range gets no file document.
    bed.module_version('nvidia', '535.161.08')
    devices = discovery.discover(conf, bed.context())
    assert [d.provenance for d in devices
            if d.driver == 'nvidia'] == ['derived', 'derived']
