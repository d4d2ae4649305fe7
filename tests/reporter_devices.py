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

"""Devices of a host as discovery would report them, built from the bundled
sample documents (shared by the reporter's unit and functional tests)."""

import os

from nova_vfio_compat.host import files
from nova_vfio_compat.model import devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits
from nova_vfio_compat import samples

SAMPLES = samples.DIR

GVT_PARENT = '0000:00:02.0'
VGPU_PARENT = '0000:3b:00.0'
VF = '0000:81:00.2'


def doc(name):
    return files.load_document(os.path.join(SAMPLES, name))


def gvt(parent=GVT_PARENT, sample='gvt-i915-v1.2-aggr3.yaml'):
    d = doc(sample)
    return devices.Device(address=parent, kind=devices.KIND_MDEV_TYPE,
                          driver='i915', document=d,
                          provenance=devices.SOURCE_FILE + ':' + sample,
                          mdev_type=d.emits.mdev_type)


def vgpu(parent=VGPU_PARENT, sample='nvidia-t4-grid16.9-222.yaml'):
    d = doc(sample)
    return devices.Device(address=parent, kind=devices.KIND_MDEV_TYPE,
                          driver='nvidia', document=d,
                          provenance=devices.SOURCE_FILE + ':' + sample,
                          mdev_type=d.emits.mdev_type or 'nvidia-222')


def vf(address=VF, sample='mlx5-vf-fw28.41.yaml'):
    return devices.Device(address=address, kind=devices.KIND_PCI,
                          driver='mlx5_vfio_pci', document=doc(sample),
                          provenance=devices.SOURCE_FILE + ':' + sample,
                          physfn='0000:81:00.0',
                          pci_ids=(0x15b3, 0x101e, 0x15b3, 0x0016),
                          # devlink's "migratable", as the operator says
                          migration_enabled=True)


def broken(address='0000:82:00.1'):
    return devices.Device(address=address, kind=devices.KIND_PCI,
                          driver='mystery_vfio_pci',
                          errors=('/etc/x/bad.yaml: at version: not an '
                                  'object',))


def published_traits(device):
    """The owned traits the reporter publishes for ``device``.

    An mdev type's document is typed first (Nova migrates an mdev only
    into one of the same type): :func:`publication.stream_document`; an
    mdev type also carries the trait that names its type.
    """
    names = traits.document_traits(publication.stream_document(device))
    if device.kind == devices.KIND_MDEV_TYPE and device.mdev_type:
        names |= {traits.mdev_type_trait(device.mdev_type)}
    return names


def root_traits(*devices_):
    """The owned traits the reporter publishes on the compute node provider.

    Those of the PCI devices among ``devices_``: an mdev type's traits
    are on its GPU's provider only.
    """
    return frozenset().union(*(published_traits(d) for d in devices_
                               if d.kind == devices.KIND_PCI))


def sample_traits(kind, mdev_type, sample):
    """:func:`published_traits` of a device-list entry of ``sample``."""
    return published_traits(devices.Device(
        address='0000:00:00.0', kind=kind, mdev_type=mdev_type,
        document=doc(sample)))
