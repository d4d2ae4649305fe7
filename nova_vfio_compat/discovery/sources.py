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

"""Where a device's capability document comes from, and which source wins.

Sources, most authoritative first:

1. the compatibility attribute (``[discovery] compat_attribute``) in the
   device's sysfs directory, or for an mdev type in the type's directory
   (``mdev_supported_types/<type>/``): a JSON capability document;
2. the capability files (:mod:`.capability_files`);
3. a derived document (:mod:`.derived`).

A source that is present but unusable (unreadable, too large, not JSON,
failing validation, describing another mdev type) is recorded in the
device's ``errors`` naming the attribute or file, and the next source is
tried.  ``provenance`` says which source gave the document:
``attribute:<sysfs path>``, ``file:<path>#capabilities[<n>]`` or
``derived``.
"""

import dataclasses
import json
import os

from nova_vfio_compat import devices as nvc_devices
from nova_vfio_compat.discovery import derived
from nova_vfio_compat import files
from nova_vfio_compat import records


@dataclasses.dataclass(frozen=True)
class Target:
    """One thing that gets a capability document.

    A VFIO PCI function or one mdev type of a parent, with the facts the
    sources look at.
    """

    kind: str
    address: str
    sys_path: str                    # where the compat attribute lives
    driver: str = None
    driver_version: str = None
    pci_ids: tuple = ()
    mdev_type: str = None
    device_api: str = 'vfio-pci'
    physfn: str = None
    iommu_group: str = None
    mdevs: tuple = ()
    available_instances: int = None
    errors: tuple = ()

    @property
    def name(self):
        if self.kind == nvc_devices.KIND_MDEV_TYPE:
            return '%s (mdev type %s)' % (self.address, self.mdev_type)
        return self.address


def targets(facts):
    """The :class:`Target` list of :class:`udev.HostFacts`."""
    out = []
    for function in facts.functions:
        if function.vfio:
            out.append(Target(
                kind=nvc_devices.KIND_PCI, address=function.address,
                sys_path=function.sys_path, driver=function.driver,
                driver_version=function.driver_version,
                pci_ids=function.pci_ids, physfn=function.physfn,
                iommu_group=function.iommu_group, errors=function.errors))
        for mdev_type in function.mdev_types:
            out.append(Target(
                kind=nvc_devices.KIND_MDEV_TYPE, address=function.address,
                sys_path=mdev_type.sys_path, driver=function.driver,
                driver_version=function.driver_version,
                pci_ids=function.pci_ids, mdev_type=mdev_type.type_id,
                device_api=mdev_type.device_api,
                physfn=function.physfn, iommu_group=function.iommu_group,
                mdevs=mdev_type.mdevs,
                available_instances=mdev_type.available_instances,
                errors=function.errors + mdev_type.errors))
    return out


def read_attribute(path, max_bytes):
    """The document in compatibility attribute ``path`` (JSON only).

    :raises records.InvalidDocument: naming ``path``.
    """
    text = files.read_bounded(path, max_bytes)
    try:
        data = json.loads(text.decode('utf-8'))
    except UnicodeDecodeError as e:
        raise records.InvalidDocument(path, 'is not UTF-8 text (%s)' % e)
    except ValueError as e:
        raise records.InvalidDocument(path, 'is not valid JSON: %s' % e)
    except RecursionError:
        raise records.InvalidDocument(path, 'is nested too deeply')
    return records.parse_document(data, path)


def _check_type(document, target, where):
    emitted = document.emits.mdev_type
    if (target.kind == nvc_devices.KIND_MDEV_TYPE and
            emitted is not None and emitted != target.mdev_type):
        raise records.InvalidDocument(
            where, 'describes mdev type %s, not %s'
            % (emitted, target.mdev_type))


@dataclasses.dataclass(frozen=True)
class Resolution:
    """A resolved device and what to log about it (warnings: ties)."""

    device: nvc_devices.Device
    warnings: tuple = ()


def resolve(target, catalogue, compat_attribute, max_bytes,
            kernel_release=None):
    """Resolve ``target``'s document from its sources, in order."""
    errors = list(target.errors)
    warnings = ()
    document, provenance = None, None

    attribute = os.path.join(target.sys_path, compat_attribute)
    if os.path.lexists(attribute):
        try:
            document = read_attribute(attribute, max_bytes)
            _check_type(document, target, attribute)
            provenance = '%s:%s' % (nvc_devices.SOURCE_ATTRIBUTE, attribute)
        except records.InvalidDocument as e:
            document = None
            errors.append('%s; falling back to capability files' % e)

    if document is None:
        claim = catalogue.claim(target)
        errors.extend('%s; entry ignored' % e for e in claim.errors)
        warnings = claim.warnings
        if claim.entry is not None:
            entry = claim.entry
            document = entry.document
            provenance = '%s:%s#capabilities[%d]' % (
                nvc_devices.SOURCE_FILE, entry.path, entry.index)

    if document is None:
        try:
            document = derived.derived_document(
                target.driver, target.pci_ids,
                driver_version=target.driver_version,
                kernel_release=kernel_release,
                mdev_type=target.mdev_type, device_api=target.device_api,
                source='%s: derived' % target.name)
            provenance = nvc_devices.SOURCE_DERIVED
        except (derived.CannotDerive, records.InvalidDocument) as e:
            errors.append('no derived document could be built: %s' % e)

    device = nvc_devices.Device(
        address=target.address, kind=target.kind, driver=target.driver,
        document=document, provenance=provenance,
        mdev_type=target.mdev_type, physfn=target.physfn,
        driver_version=target.driver_version, pci_ids=target.pci_ids,
        iommu_group=target.iommu_group, errors=tuple(errors),
        mdevs=target.mdevs, available_instances=target.available_instances)
    return Resolution(device=device, warnings=warnings)


def unresolved(target, error):
    """The device of ``target`` when resolving it failed unexpectedly."""
    return nvc_devices.Device(
        address=target.address, kind=target.kind, driver=target.driver,
        mdev_type=target.mdev_type, physfn=target.physfn,
        driver_version=target.driver_version, pci_ids=target.pci_ids,
        iommu_group=target.iommu_group,
        errors=tuple(target.errors) + ('%s: discovery failed: %s'
                                       % (target.name, error),),
        mdevs=target.mdevs, available_instances=target.available_instances)
