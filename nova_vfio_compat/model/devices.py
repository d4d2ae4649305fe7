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

"""The one model of a device: plain data, no I/O.

Discovery (:mod:`nova_vfio_compat.host.discovery`) builds a :class:`Device` for
each VFIO-relevant device from udev's facts, then the same value with its
capability document (``dataclasses.replace``); the reporter, the CLI and
publication read it; device lists, the demo and the tests build it
directly.
"""

import dataclasses

# A PCI function bound to vfio-pci or a VFIO variant driver (a VF or a
# whole device); Nova tracks it through [pci] device_spec.
KIND_PCI = 'pci'
# A parent device that can create mdevs of ``mdev_type``; Nova creates a
# resource provider per parent (``<nodename>_pci_<addr>``).
KIND_MDEV_TYPE = 'mdev_type'

KINDS = (KIND_PCI, KIND_MDEV_TYPE)

# The device API of a PCI function bound to vfio-pci or a variant driver.
PCI_DEVICE_API = 'vfio-pci'

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
    ``:<where>`` (a path) when there is one.  Discovery builds the
    device without a document first and derives the resolved one with
    ``dataclasses.replace``.
    """

    address: str
    kind: str
    driver: str = None
    document: object = None
    provenance: str = None
    mdev_type: str = None
    physfn: str = None
    driver_version: str = None
    # (vendor, device, subsystem_vendor, subsystem_device) as ints, or ()
    # when they are unknown.
    pci_ids: tuple = ()
    iommu_group: str = None
    errors: tuple = ()
    # For KIND_MDEV_TYPE: UUIDs of the mdevs of this type that exist on
    # the parent, and how many more the parent can create (None: unknown).
    mdevs: tuple = ()
    available_instances: int = None
    # Discovery's facts for finding the document: the sysfs directory
    # where the compatibility attribute is looked for (the function's, or
    # for an mdev type the type's directory under mdev_supported_types/),
    # and the VFIO device API the guest sees (vfio-pci for a PCI function,
    # an mdev type's own device_api attribute; None when unknown).  Both
    # are None for a device that discovery did not find.
    sys_path: str = None
    device_api: str = None
    # The operator says the device's VFIO migration is enabled where the
    # kernel gates it per device without showing it in sysfs (mlx5's
    # devlink "migratable"): [discovery] migration_enabled, or a device
    # list's migration_enabled.
    migration_enabled: bool = False

    @property
    def name(self):
        """How messages name the device."""
        if self.kind == KIND_MDEV_TYPE:
            return '%s (mdev type %s)' % (self.address, self.mdev_type)
        return self.address
