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
import os

from nova_vfio_compat.host.discovery import derived
from nova_vfio_compat.host import files
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import records


def read_attribute(path, max_bytes):
    """The document in compatibility attribute ``path`` (JSON only).

    :raises records.InvalidDocument: naming ``path``.
    """
    text = files.read_bounded(path, max_bytes)
    return records.parse_document(records.parse_json(text, path), path)


def _check_type(document, device, where):
    emitted = document.emits.mdev_type
    if (device.kind == nvc_devices.KIND_MDEV_TYPE and
            emitted is not None and emitted != device.mdev_type):
        raise records.InvalidDocument(
            where, 'describes mdev type %s, not %s'
            % (emitted, device.mdev_type))


@dataclasses.dataclass(frozen=True)
class Resolution:
    """A resolved device and what to log about it (warnings: ties)."""

    device: nvc_devices.Device
    warnings: tuple = ()


def resolve(device, catalogue, compat_attribute, max_bytes,
            kernel_release=None):
    """``device`` with its document, resolved from its sources in order.

    ``device`` is one of :class:`udev.HostFacts`' devices (no document
    yet); the resolved one has the document, its provenance, and the
    rejected sources added to its ``errors``.
    """
    errors = list(device.errors)
    warnings = ()
    document, provenance = None, None

    attribute = os.path.join(device.sys_path, compat_attribute)
    if os.path.lexists(attribute):
        try:
            document = read_attribute(attribute, max_bytes)
            _check_type(document, device, attribute)
            provenance = '%s:%s' % (nvc_devices.SOURCE_ATTRIBUTE, attribute)
        except records.InvalidDocument as e:
            document = None
            errors.append('%s; falling back to capability files' % e)

    if document is None:
        claim = catalogue.claim(device)
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
                device.driver, device.pci_ids,
                driver_version=device.driver_version,
                kernel_release=kernel_release,
                mdev_type=device.mdev_type, device_api=device.device_api,
                source='%s: derived' % device.name)
            provenance = nvc_devices.SOURCE_DERIVED
        except (derived.CannotDerive, records.InvalidDocument) as e:
            errors.append('no derived document could be built: %s' % e)

    resolved = dataclasses.replace(device, document=document,
                                   provenance=provenance,
                                   errors=tuple(errors))
    return Resolution(device=resolved, warnings=warnings)


def unresolved(device, error):
    """``device`` when resolving it failed unexpectedly."""
    return dataclasses.replace(device, errors=tuple(device.errors) + (
        '%s: discovery failed: %s' % (device.name, error),))
