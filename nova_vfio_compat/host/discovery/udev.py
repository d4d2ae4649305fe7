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

"""Enumerate the host's VFIO-relevant devices through udev.

Everything here reads sysfs through pyudev (and plain reads of attribute
files below a device's sysfs directory, which pyudev also does); nothing
is shelled out.  The result is data (:class:`HostFacts`): the devices,
without their capability documents, which :mod:`.document_sources` resolves.

What is VFIO-relevant:

* a PCI function bound to ``vfio-pci`` or to a VFIO variant driver.  A
  variant driver is recognised generically, not from a list: the driver's
  name ends in ``_vfio_pci`` or ``-vfio-pci`` (``mlx5_vfio_pci``,
  ``hisi_acc_vfio_pci``, ``pds_vfio_pci``, ``qat_vfio_pci``,
  ``virtio_vfio_pci``, ...), or the function has a ``vfio-dev/``
  directory, which the kernel creates for every device bound to a driver
  built on vfio-pci-core (Linux 6.1 and later);
* a PCI function that is an mdev parent, i.e. has a
  ``mdev_supported_types/`` directory (NVIDIA vGPU, Intel GVT-g, ...),
  whatever driver it is bound to.

Everything else (the PF of an SR-IOV NIC, bridges, NVMe controllers on
``nvme``) is ignored.  Non-PCI mdev parents (vfio-ccw, vfio-ap) are not
enumerated: Nova models mdev parents as PCI providers.
"""

import dataclasses
import os
import platform

from oslo_log import log as logging
import pyudev

from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import records

LOG = logging.getLogger(__name__)

VFIO_PCI_DRIVER = 'vfio-pci'
_VARIANT_SUFFIXES = ('_vfio_pci', '-vfio-pci')
MDEV_TYPES_DIR = 'mdev_supported_types'
# Attribute files are a few bytes; this bounds a read of a misbehaving one.
_MAX_ATTRIBUTE_BYTES = 4096


@dataclasses.dataclass(frozen=True)
class Mdev:
    """An mdev that exists on the mdev bus."""

    uuid: str
    mdev_type: str
    parent: str


@dataclasses.dataclass(frozen=True)
class HostFacts:
    """What one pass over sysfs found.

    ``devices`` are :class:`nova_vfio_compat.model.devices.Device` values
    without a document, in address order: each PCI function bound to a
    VFIO driver and each mdev type of each mdev parent (after its parent
    function).
    """

    devices: tuple
    mdevs: tuple
    kernel_release: str


def is_vfio_driver(driver):
    """Is ``driver`` vfio-pci or a VFIO variant driver (by its name)?"""
    return bool(driver) and (driver == VFIO_PCI_DRIVER or
                             driver.endswith(_VARIANT_SUFFIXES))


def _read(path):
    with open(path, 'rb') as f:
        data = f.read(_MAX_ATTRIBUTE_BYTES)
    return data.decode('utf-8', 'replace').strip()


def _link_name(path):
    """The last component of the target of symlink ``path``, or None."""
    try:
        return os.path.basename(os.readlink(path).rstrip('/')) or None
    except OSError:
        return None


def _pci_ids(device):
    ids = []
    for name in ('vendor', 'device', 'subsystem_vendor', 'subsystem_device'):
        ids.append(records.hex_int(device.attributes.asstring(name)))
    return tuple(ids)


def module_name(sys_path, driver):
    """The kernel module of ``driver``.

    The ``driver/module`` link when sysfs has it, else the driver name
    with ``-`` folded to ``_`` (as the kernel does for module names).
    """
    name = _link_name(os.path.join(sys_path, 'driver', 'module'))
    return name or driver.replace('-', '_')


def driver_version(sys_root, sys_path, driver):
    """``/sys/module/<module>/version`` of the driver, or None.

    Most in-tree modules have no version file; their code is that of the
    running kernel.
    """
    if not driver:
        return None
    path = os.path.join(sys_root, 'module', module_name(sys_path, driver),
                        'version')
    try:
        return _read(path) or None
    except OSError:
        return None


def _mdev_types(function, mdevs):
    """The devices of the mdev types of ``function`` (an mdev parent).

    Each is ``function`` with the type's facts; an attribute of the type
    that cannot be read is one more of its ``errors``.
    """
    base = os.path.join(function.sys_path, MDEV_TYPES_DIR)
    out = []
    for type_id in sorted(os.listdir(base)):
        type_path = os.path.join(base, type_id)
        if not os.path.isdir(type_path):
            continue
        values, errors = {}, []
        for name in ('device_api', 'available_instances'):
            path = os.path.join(type_path, name)
            if not os.path.lexists(path):
                continue
            try:
                values[name] = _read(path)
            except OSError as e:
                errors.append('%s: cannot be read: %s'
                              % (path, e.strerror or e))
        available = values.get('available_instances')
        if available is not None:
            try:
                available = int(available)
            except ValueError:
                errors.append('%s/available_instances: %r is not a number'
                              % (type_path, available))
                available = None
        out.append(dataclasses.replace(
            function, kind=nvc_devices.KIND_MDEV_TYPE, sys_path=type_path,
            mdev_type=type_id, device_api=values.get('device_api') or None,
            available_instances=available,
            mdevs=tuple(sorted(mdevs.get(type_id, ()))),
            errors=function.errors + tuple(errors)))
    return out


def _devices(device, sys_root, mdevs_by_parent):
    """The devices of one PCI function; none if it is not VFIO-relevant.

    The function itself when it is bound to a VFIO driver, then each of
    its mdev types when it is an mdev parent.
    """
    sys_path = device.sys_path
    driver = device.driver
    has_types = os.path.isdir(os.path.join(sys_path, MDEV_TYPES_DIR))
    vfio = is_vfio_driver(driver) or (
        driver is not None and
        os.path.isdir(os.path.join(sys_path, 'vfio-dev')))
    if not (vfio or has_types):
        return []
    address = device.sys_name
    errors = []
    try:
        pci_ids = _pci_ids(device)
    except (KeyError, ValueError, OSError) as e:
        errors.append('%s: cannot read its PCI IDs: %s' % (sys_path, e))
        pci_ids = ()
    function = nvc_devices.Device(
        address=address, kind=nvc_devices.KIND_PCI, sys_path=sys_path,
        device_api=nvc_devices.PCI_DEVICE_API, driver=driver,
        driver_version=driver_version(sys_root, sys_path, driver),
        pci_ids=pci_ids,
        physfn=_link_name(os.path.join(sys_path, 'physfn')),
        iommu_group=_link_name(os.path.join(sys_path, 'iommu_group')),
        errors=tuple(errors))
    out = [function] if vfio else []
    if has_types:
        out.extend(_mdev_types(function, mdevs_by_parent.get(address, {})))
    return out


def _mdevs(context):
    out = []
    for device in context.list_devices(subsystem='mdev'):
        try:
            mdev_type = (device.properties.get('MDEV_TYPE') or
                         _link_name(os.path.join(device.sys_path,
                                                 'mdev_type')))
            parent = device.parent
            parent = parent.sys_name if parent is not None else None
        except Exception as e:
            LOG.warning('mdev %s: cannot be read, ignored: %s',
                        device.sys_path, e)
            continue
        out.append(Mdev(uuid=device.sys_name, mdev_type=mdev_type,
                        parent=parent))
    return tuple(sorted(out, key=lambda m: m.uuid))


def scan(context=None):
    """The :class:`HostFacts` of this host (or of ``context``'s sysfs).

    A device whose facts cannot be read is logged, naming it, and skipped;
    it never stops the others.
    """
    context = context or pyudev.Context()
    mdevs = _mdevs(context)
    by_parent = {}
    for mdev in mdevs:
        by_parent.setdefault(mdev.parent, {}).setdefault(
            mdev.mdev_type, []).append(mdev.uuid)
    functions = []
    for device in context.list_devices(subsystem='pci'):
        try:
            found = _devices(device, context.sys_path, by_parent)
        except Exception as e:
            # One unreadable device must not hide the others; its name
            # and the reason go to the log.
            LOG.warning('PCI device %s: cannot be read, ignored: %s',
                        device.sys_path, e)
            continue
        if found:
            functions.append(found)
    functions.sort(key=lambda found: found[0].address)
    return HostFacts(devices=tuple(d for found in functions for d in found),
                     mdevs=mdevs, kernel_release=platform.release())
