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

"""The derived capability document: built from sysfs facts alone.

A derived document is the last resort, used when neither a compatibility
attribute nor a capability file describes a device.  It must never let
two devices look compatible that the vendor would not call compatible, so
it claims nothing it cannot see:

* ``vendor`` is the driver name and the version is ``0.0``;
* the bus section holds the guest-visible PCI IDs and, as extra identity
  keys, the exact driver version (``driver_version``) and, for an mdev
  type, the type name (``mdev_type``).  When the driver has no version
  (most in-tree modules), the running kernel's release
  (``kernel_release``) stands in for it: the module's code is the
  kernel's;
* for an mdev type, ``device_api`` is the type's own ``device_api`` and
  the top-level ``mdev_type`` is the type name (what to create).

A derived stream is therefore received only by an identical device on an
identical driver (or kernel) build, with the identical mdev type.
"""

from nova_vfio_compat.model import records

DERIVED_SOURCE = 'derived'


class CannotDerive(ValueError):
    """The facts are not enough for a derived document (message says why)."""


def derived_document(driver, pci_ids, driver_version=None,
                     kernel_release=None, mdev_type=None,
                     device_api='vfio-pci', source=DERIVED_SOURCE):
    """The derived :class:`records.Document` of a device.

    :param pci_ids: ``(vendor, device, subsystem_vendor,
        subsystem_device)`` as ints (for an mdev type, the parent's).
    :raises CannotDerive: when the driver, the PCI IDs, the device API or
        both the driver version and the kernel release are missing.
    :raises records.InvalidDocument: when a fact cannot be part of a legal
        record (e.g. a driver version with control characters).
    """
    if not driver:
        raise CannotDerive('no driver is bound')
    if not device_api:
        raise CannotDerive('the device API is unknown')
    if len(pci_ids or ()) != len(records.PCI_ID_KEYS):
        raise CannotDerive('its PCI IDs are unknown')
    bus = dict(zip(records.PCI_ID_KEYS, pci_ids))
    if driver_version:
        bus['driver_version'] = str(driver_version)
    elif kernel_release:
        bus['kernel_release'] = str(kernel_release)
    else:
        raise CannotDerive('neither the driver version nor the kernel '
                           'release is known')
    record = {
        'device_api': device_api,
        'vendor': driver,
        'version': {'major': 0, 'minor': 0},
        device_api: bus,
    }
    if mdev_type is not None:
        bus['mdev_type'] = mdev_type
        record['mdev_type'] = mdev_type
    return records.parse_document(record, source)
