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

"""The fleet the benchmarks schedule on: hosts, their devices, documents.

Every host has ``PARENTS`` mdev-capable GPUs (one Nova provider each,
``<host>_pci_<address>``).  The documents follow one family of vGPU
streams: the source device emits version 1.2; a destination GPU with
version 1.m accepts minors 0..m (so it accepts the source when m >= 2) and
every fifth host has major version 2 (accepts nothing the source sends).
So about half of the candidates are pruned and a fifth of the hosts fail.
"""

import dataclasses
import functools

from oslo_utils import uuidutils

from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.reporter import plan as nvc_plan

PARENTS = 4
MDEV_TYPE = 'nvidia-222'
SOURCE_VERSION = (1, 2)
# Traits nova-compute and another agent keep on a compute node root.
NOVA_ROOT_TRAITS = ('COMPUTE_NODE', 'OWNER_NOVA')
# What Nova's libvirt driver sets on a compute node: the traits and the
# inventory of the root of a compute host of Nova's own functional
# harness (fake libvirt, an x86_64 host of 16 CPUs; a unit test reads
# them there, tests/nova/test_benchmarks.py).  A real host carries more
# CPU flags (HW_CPU_X86_*) than the fake one.
LIBVIRT_ROOT_TRAITS = (
    'COMPUTE_ACCELERATORS', 'COMPUTE_ARCH_AARCH64', 'COMPUTE_ARCH_MIPSEL',
    'COMPUTE_ARCH_X86_64', 'COMPUTE_DEVICE_TAGGING',
    'COMPUTE_GRAPHICS_MODEL_BOCHS', 'COMPUTE_GRAPHICS_MODEL_CIRRUS',
    'COMPUTE_GRAPHICS_MODEL_NONE', 'COMPUTE_GRAPHICS_MODEL_QXL',
    'COMPUTE_GRAPHICS_MODEL_VGA', 'COMPUTE_GRAPHICS_MODEL_VIRTIO',
    'COMPUTE_GRAPHICS_MODEL_VMVGA', 'COMPUTE_IMAGE_TYPE_AKI',
    'COMPUTE_IMAGE_TYPE_AMI', 'COMPUTE_IMAGE_TYPE_ARI',
    'COMPUTE_IMAGE_TYPE_ISO', 'COMPUTE_IMAGE_TYPE_QCOW2',
    'COMPUTE_IMAGE_TYPE_RAW', 'COMPUTE_NET_ATTACH_INTERFACE',
    'COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG', 'COMPUTE_NET_VIF_MODEL_E1000',
    'COMPUTE_NET_VIF_MODEL_E1000E', 'COMPUTE_NET_VIF_MODEL_NE2K_PCI',
    'COMPUTE_NET_VIF_MODEL_PCNET', 'COMPUTE_NET_VIF_MODEL_RTL8139',
    'COMPUTE_NET_VIF_MODEL_SPAPR_VLAN', 'COMPUTE_NET_VIF_MODEL_VIRTIO',
    'COMPUTE_NET_VIF_MODEL_VMXNET3', 'COMPUTE_NET_VIRTIO_PACKED',
    'COMPUTE_NODE', 'COMPUTE_RESCUE_BFV',
    'COMPUTE_SECURITY_STATELESS_FIRMWARE',
    'COMPUTE_SECURITY_UEFI_SECURE_BOOT', 'COMPUTE_SOCKET_PCI_NUMA_AFFINITY',
    'COMPUTE_SOUND_MODEL_AC97', 'COMPUTE_SOUND_MODEL_ES1370',
    'COMPUTE_SOUND_MODEL_ICH6', 'COMPUTE_SOUND_MODEL_ICH9',
    'COMPUTE_SOUND_MODEL_PCSPK', 'COMPUTE_SOUND_MODEL_SB16',
    'COMPUTE_SOUND_MODEL_USB', 'COMPUTE_STORAGE_BUS_FDC',
    'COMPUTE_STORAGE_BUS_IDE', 'COMPUTE_STORAGE_BUS_SATA',
    'COMPUTE_STORAGE_BUS_SCSI', 'COMPUTE_STORAGE_BUS_USB',
    'COMPUTE_STORAGE_BUS_VIRTIO', 'COMPUTE_STORAGE_VIRTIO_FS',
    'COMPUTE_TRUSTED_CERTS', 'COMPUTE_VIOMMU_MODEL_AUTO',
    'COMPUTE_VIOMMU_MODEL_INTEL', 'COMPUTE_VIOMMU_MODEL_SMMUV3',
    'COMPUTE_VIOMMU_MODEL_VIRTIO', 'COMPUTE_VOLUME_ATTACH_WITH_TAG',
    'COMPUTE_VOLUME_EXTEND', 'COMPUTE_VOLUME_MULTI_ATTACH', 'HW_ARCH_X86_64',
    'HW_CPU_HYPERTHREADING', 'HW_CPU_X86_AESNI', 'HW_CPU_X86_INTEL_VMX',
    'HW_CPU_X86_VMX', 'OWNER_NOVA')
LIBVIRT_ROOT_INVENTORY = {
    'VCPU': {'total': 16, 'allocation_ratio': 4.0},
    'MEMORY_MB': {'total': 16780000, 'reserved': 512},
    'DISK_GB': {'total': 128},
}

_DOCUMENT = """device_api: vfio-pci
vendor: nvidia
version: {major: %(major)d, minor: %(minor)d, minor_min: %(minor_min)d}
vfio-pci: {vendor: 0x10de, device: 0x1eb8,
           subsystem_vendor: 0x10de, subsystem_device: 0x%(subsys)04x}
mdev_type: %(mdev_type)s
"""


def document_text(major, minor, minor_min=0, subsys=0x12a2):
    """The YAML of :func:`document`, as a capability file would hold it."""
    return _DOCUMENT % {'major': major, 'minor': minor,
                        'minor_min': minor_min, 'subsys': subsys,
                        'mdev_type': MDEV_TYPE}


@functools.lru_cache(maxsize=None)
def document(major, minor, minor_min=0, subsys=0x12a2):
    """A bare-record capability document of the benchmark's GPU family.

    It emits ``major.minor`` and accepts ``minor_min``..``minor``; its
    streams typed with :data:`MDEV_TYPE`, as the reporter publishes them
    (:func:`publication.as_published`, whatever their trait count).
    Documents are immutable: one object per version, parsed once (a
    10,000-host fleet has a handful of versions).
    """
    raw = records.loads(
        document_text(major, minor, minor_min, subsys),
        'benchmark document %d.%d (from %d, %04x)'
        % (major, minor, minor_min, subsys))
    return publication.as_published(_gpu(0, raw)).streams


def _gpu(index, doc):
    """GPU ``index`` of a host, as discovery hands it to the reporter."""
    return nvc_devices.Device(address=parent_address(index),
                              kind=nvc_devices.KIND_MDEV_TYPE,
                              mdev_type=MDEV_TYPE, document=doc,
                              provenance=nvc_devices.SOURCE_FILE)


@functools.lru_cache(maxsize=None)
def gpu_traits(doc, max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """The traits the reporter publishes for a GPU with ``doc``.

    Publication's own (:func:`publication.as_published`), the trait that
    names the mdev type included; nothing when they do not fit.  A fleet
    has a handful of distinct documents: each is published once.
    """
    return publication.as_published(_gpu(0, doc), max_traits).traits


@functools.lru_cache(maxsize=None)
def root_traits(docs, max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """The traits the reporter publishes on the root of GPUs with ``docs``.

    Publication's own (:func:`publication.fit_root`); hosts of a fleet
    share a handful of sets of documents: each is worked out once.
    """
    return publication.fit_root(
        [publication.as_published(_gpu(i, doc), max_traits)
         for i, doc in enumerate(docs)], max_traits).traits


def parent_address(index):
    return '0000:%02x:00.0' % (0x81 + index)


def host_version(host_index, parent_index):
    """(major, minor) of GPU ``parent_index`` of host ``host_index``."""
    if host_index % 5 == 0:
        return 2, 0
    return 1, (host_index + parent_index) % 4


@dataclasses.dataclass
class Host:
    """One compute node of the fleet."""

    name: str
    uuid: str
    # {provider uuid: Document} of its GPUs, in parent order.
    gpus: dict

    def devices(self):
        """The host's GPUs as discovery would hand them to the reporter."""
        return [_gpu(i, doc) for i, doc in enumerate(self.gpus.values())]

    def provider_traits(self, max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
        """{provider uuid: owned traits} as the reporter publishes them."""
        result = {}
        for uuid, doc in self.gpus.items():
            result[uuid] = gpu_traits(doc, max_traits)
        result[self.uuid] = root_traits(tuple(self.gpus.values()),
                                        max_traits)
        return result


def synthetic_hosts(count, prefix='host'):
    """``count`` hosts with made-up provider uuids (no Placement)."""
    hosts = []
    for i in range(1, count + 1):
        gpus = {uuidutils.generate_uuid(): document(*host_version(i, j))
                for j in range(PARENTS)}
        hosts.append(Host('%s%05d' % (prefix, i),
                          uuidutils.generate_uuid(), gpus))
    return hosts


def source_document():
    return document(*SOURCE_VERSION)


def source_traits():
    """The traits the reporter publishes for the source GPU."""
    return gpu_traits(source_document())


def gpu_provider_name(host_name, index):
    return nvc_plan.mdev_parent_provider_name(host_name,
                                              parent_address(index))
