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

"""A static list of devices, read from a YAML file.

The reporter's alternative to udev discovery (``[reporter] device_list``)::

    devices:
      - address: '0000:3b:00.0'
        kind: mdev_type             # or pci
        mdev_type: nvidia-222
        document: t4-grid17.yaml    # relative to this file
      - address: '0000:81:00.2'
        kind: pci
        document: /etc/nova-vfio-compat/capabilities/mlx5-fw28.43.yaml

Every entry is checked like a capability document (:data:`ENTRY`: types,
PCI address syntax, the characters of names) and a malformed entry
refuses the list, naming the file and the entry.  An entry whose
document is invalid becomes a device with ``errors`` (reported, not
published); the other entries are still used.  A list that cannot be
read at all raises :exc:`files.Unreadable`; so does a document that
cannot be read when the caller holds on unreadable inputs (the reporter:
what such a document says is not known, which is not the same as the
device having none).
"""

import os

from nova_vfio_compat.host import files
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import records
from nova_vfio_compat.model import schema

MAX_BYTES = 1024 * 1024

PCI_ADDRESS = {
    'type': 'string',
    'pattern': '^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]\\Z',
    'description': 'is not a PCI address (domain:bus:slot.function, '
                   'e.g. 0000:3b:00.0)',
}

ENTRY = {
    'type': 'object',
    'required': ['address'],
    'properties': {
        'address': PCI_ADDRESS,
        'kind': {'enum': list(nvc_devices.KINDS)},
        'mdev_type': schema.MDEV_TYPE,
        'document': {'type': 'string', 'minLength': 1, 'maxLength': 4096,
                     'pattern': schema.TEXT_PATTERN,
                     'description': 'must not contain control characters'},
        'driver': schema.NAME,
        'physfn': PCI_ADDRESS,
        'mdevs': {'type': 'array', 'items': {
            'type': 'string', 'maxLength': 64,
            'pattern': schema.TEXT_PATTERN,
            'description': 'must not contain control characters'}},
        'available_instances': {'type': 'integer', 'minimum': 0,
                                'maximum': schema.MAX_INT},
        'migration_enabled': {'type': 'boolean'},
    },
    'additionalProperties': False,
}


def load(path, hold_unreadable=False):
    """The :class:`devices.Device` list of the file at ``path``.

    :param hold_unreadable: raise :exc:`files.Unreadable` for a document
        that cannot be read, instead of a device with ``errors``.

    :raises records.InvalidDocument: naming the file when the list itself
        is unreadable or malformed.
    """
    # The documents' parser: strict YAML (no aliases, no duplicate keys).
    data = records.parse_text(files.read_bounded(path, MAX_BYTES), path)
    if not isinstance(data, dict) or not isinstance(
            data.get('devices'), list):
        raise records.InvalidDocument(
            path, 'expected a mapping with a "devices" list')
    base = os.path.dirname(os.path.abspath(path))
    out = []
    for index, entry in enumerate(data['devices']):
        where = 'devices[%d]' % index
        if not isinstance(entry, dict) or not isinstance(
                entry.get('address'), str):
            raise records.InvalidDocument(path, 'needs an "address" string',
                                          where)
        kind = entry.get('kind', nvc_devices.KIND_PCI)
        if kind not in nvc_devices.KINDS:
            raise records.InvalidDocument(
                path, 'kind must be one of %s' % ', '.join(nvc_devices.KINDS),
                where)
        if kind == nvc_devices.KIND_MDEV_TYPE and not entry.get('mdev_type'):
            raise records.InvalidDocument(
                path, 'an mdev_type device needs "mdev_type"', where)
        mdevs = entry.get('mdevs', [])
        available = entry.get('available_instances')
        records.check_plain(entry, path, where)
        records.validate(entry, ENTRY, path, where)
        document, errors, provenance = None, (), None
        if entry.get('document'):
            doc_path = os.path.join(base, str(entry['document']))
            provenance = '%s:%s' % (nvc_devices.SOURCE_FILE, doc_path)
            try:
                document = files.load_document(doc_path)
            except files.Unreadable as e:
                if hold_unreadable:
                    raise
                errors = (str(e),)
            except records.InvalidDocument as e:
                errors = (str(e),)
        else:
            errors = ('%s: %s: no "document"' % (path, where),)
        out.append(nvc_devices.Device(
            address=entry['address'], kind=kind,
            driver=entry.get('driver'), document=document,
            provenance=provenance, mdev_type=entry.get('mdev_type'),
            physfn=entry.get('physfn'), errors=errors,
            mdevs=tuple(mdevs), available_instances=available,
            migration_enabled=entry.get('migration_enabled', False)))
    return out
