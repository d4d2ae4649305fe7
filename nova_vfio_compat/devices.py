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

"""What discovery hands the reporter: plain data, no I/O.

Discovery (:mod:`nova_vfio_compat.discovery`) builds :class:`Device` values
from udev and capability files; the reporter turns them into Placement
writes; the demo and the tests build them directly from documents.
"""

import dataclasses

# A PCI function bound to vfio-pci or a VFIO variant driver (a VF or a
# whole device); Nova tracks it through [pci] device_spec.
KIND_PCI = 'pci'
# A parent device that can create mdevs of ``mdev_type``; Nova creates a
# resource provider per parent (``<nodename>_pci_<addr>``).
KIND_MDEV_TYPE = 'mdev_type'

KINDS = (KIND_PCI, KIND_MDEV_TYPE)

# Where a device's capability document came from, most authoritative first.
SOURCE_ATTRIBUTE = 'attribute'     # a compatibility attribute in sysfs
SOURCE_FILE = 'file'               # a vendor/operator capability file
SOURCE_DERIVED = 'derived'         # built from sysfs facts alone


@dataclasses.dataclass(frozen=True)
class Device:
    """One VFIO-relevant device of a host and its capability document.

    ``address`` is the PCI address (``0000:3b:00.0``); for
    :data:`KIND_MDEV_TYPE` it is the mdev parent's address, and
    ``mdev_type`` names the type.  ``document`` is None when no source gave
    a usable one; ``errors`` then says why (one line per rejected source,
    each naming the file or attribute).  A device with a document may
    still have ``errors``: the more authoritative sources it skipped.
    ``provenance`` is one of the ``SOURCE_*`` values followed by
    ``:<where>`` (a path) when there is one.
    """

    address: str
    kind: str
    driver: str = None
    document: object = None
    provenance: str = None
    mdev_type: str = None
    physfn: str = None
    driver_version: str = None
    # (vendor, device, subsystem_vendor, subsystem_device) as ints
    pci_ids: tuple = ()
    iommu_group: str = None
    errors: tuple = ()
    # For KIND_MDEV_TYPE: UUIDs of the mdevs of this type that exist on
    # the parent, and how many more the parent can create (None: unknown).
    mdevs: tuple = ()
    available_instances: int = None

    @property
    def name(self):
        """How messages name the device."""
        if self.kind == KIND_MDEV_TYPE:
            return '%s (mdev type %s)' % (self.address, self.mdev_type)
        return self.address
