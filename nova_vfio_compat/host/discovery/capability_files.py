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

"""Capability files: vendor or operator documents for devices that do not
describe themselves.

A capability file is JSON or YAML with a list of entries, each saying which
devices it applies to and their capability document::

    capabilities:
      - match:
          driver: mlx5_vfio_pci              # a name or a list of names
          driver_version: ">=28.39, <29"     # see version_range
          pci_ids:                           # any of these
            - {vendor: 0x15b3, device: 0x101e,
               subsystem_vendor: 0x15b3, subsystem_device: 0x0016}
          mdev_type: nvidia-222              # a name or a list of names
        document: {...}                      # a capability document

Every criterion given must hold; at least one of ``driver``, ``pci_ids``
and ``mdev_type`` is required.  In a PCI ID entry ``vendor`` and
``device`` are required, the subsystem IDs optional.  An entry with
``mdev_type`` applies only to mdev types.  An entry whose document names
an ``mdev_type`` applies only to that mdev type (for mdev parents).

When several entries claim one device, the one in the file whose name
sorts last wins (for equal names, the one from the directory listed later
in ``[discovery] capability_dirs``; within a file, the later entry), in the
manner of ``sysctl.d``: ``90-local.yaml`` overrides ``50-vendor.yaml``.
Each such tie is reported with both places named.

A file that cannot be read or parsed, or whose structure is invalid, is
reported once, naming it, and none of its entries is used.  An entry whose
structure or ``match`` is invalid is reported once, naming the file and
the entry, and claims no device; the other entries of the file are still
used.  An entry whose ``document`` is invalid is not used either; the
devices it claims are told why (naming the file and entry) and fall back
to the next source.
"""

import dataclasses
import os

from nova_vfio_compat.host.discovery import version_range
from nova_vfio_compat.host import files
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import records
from nova_vfio_compat.model import schema

SUFFIXES = ('.yaml', '.yml', '.json')
MAX_ENTRIES = 256
MAX_PCI_IDS = 256

_NAMES = {
    'oneOf': [
        schema.NAME,
        {'type': 'array', 'minItems': 1, 'maxItems': 64,
         'items': schema.NAME},
    ],
}

_MDEV_TYPES = {
    'oneOf': [
        schema.MDEV_TYPE,
        {'type': 'array', 'minItems': 1, 'maxItems': 64,
         'items': schema.MDEV_TYPE},
    ],
}

MATCH = {
    'type': 'object',
    'properties': {
        'driver': _NAMES,
        'driver_version': {'type': 'string', 'minLength': 1,
                           'maxLength': 256},
        'pci_ids': {
            'type': 'array', 'minItems': 1, 'maxItems': MAX_PCI_IDS,
            'items': {
                'type': 'object',
                'required': ['vendor', 'device'],
                'properties': {key: schema.PCI_ID
                               for key in records.PCI_ID_KEYS},
                'additionalProperties': False,
            },
        },
        'mdev_type': _MDEV_TYPES,
    },
    'anyOf': [
        {'required': ['driver']},
        {'required': ['pci_ids']},
        {'required': ['mdev_type']},
    ],
    'additionalProperties': False,
}

ENTRY = {
    'type': 'object',
    'required': ['match', 'document'],
    'properties': {
        'description': {'type': 'string', 'maxLength': 1024},
        'match': MATCH,
        # Validated by records.parse_document once the match is known good.
        'document': {},
    },
    'additionalProperties': False,
}

# Entries are validated one by one (ENTRY), so that one bad entry does not
# void the others of its file.
FILE = {
    'type': 'object',
    'required': ['capabilities'],
    'properties': {
        'capabilities': {
            'type': 'array', 'minItems': 1, 'maxItems': MAX_ENTRIES,
        },
    },
    'additionalProperties': False,
}


def _as_tuple(value):
    if value is None:
        return None
    return tuple(value) if isinstance(value, list) else (value,)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One entry of a capability file, its match parsed.

    ``document`` is None when it is invalid; ``error`` then says why.
    """

    path: str
    index: int
    order: tuple
    drivers: tuple = None
    versions: version_range.VersionRange = None
    pci_ids: tuple = None
    mdev_types: tuple = None
    document: records.Document = None
    error: str = None
    match_error: str = None

    @property
    def where(self):
        return '%s: capabilities[%d]' % (self.path, self.index)

    def matches(self, device):
        """Does this entry claim ``device``?

        ``device`` is a :class:`nova_vfio_compat.model.devices.Device`; its
        ``kind``, ``driver``, ``driver_version``, ``pci_ids`` and
        ``mdev_type`` are looked at.
        """
        if self.match_error is not None:
            return False
        if self.drivers is not None and device.driver not in self.drivers:
            return False
        if (self.versions is not None and
                not self.versions.contains(device.driver_version)):
            return False
        if self.pci_ids is not None and not any(
                _ids_match(ids, device.pci_ids) for ids in self.pci_ids):
            return False
        is_type = device.kind == nvc_devices.KIND_MDEV_TYPE
        if self.mdev_types is not None and (
                not is_type or device.mdev_type not in self.mdev_types):
            return False
        if (is_type and self.document is not None and
                self.document.emits.mdev_type is not None and
                self.document.emits.mdev_type != device.mdev_type):
            return False
        return True


def _ids_match(wanted, pci_ids):
    if len(pci_ids or ()) != len(records.PCI_ID_KEYS):
        return False
    have = dict(zip(records.PCI_ID_KEYS, pci_ids))
    return all(have[key] == value for key, value in wanted)


def parse_file(data, path, order=()):
    """The :class:`Entry` list of a parsed capability file.

    An entry that cannot be used is in the list with its ``error`` set:
    with ``match_error`` too when its structure or ``match`` is invalid
    (it then claims no device).

    :raises records.InvalidDocument: naming ``path`` when the file's own
        structure is invalid.
    """
    records.check_plain(data, path)
    records.validate(data, FILE, path)
    entries = []
    for index, item in enumerate(data['capabilities']):
        where = 'capabilities[%d]' % index
        base = Entry(path=path, index=index, order=tuple(order) + (index,))
        try:
            entries.append(_parse_entry(item, path, where, base))
        except records.InvalidDocument as e:
            entries.append(dataclasses.replace(
                base, error=str(e), match_error=str(e)))
        except Exception as e:
            # Whatever else one hostile entry provokes, the others of the
            # file are still used.
            message = '%s: %s: cannot be used: %s' % (path, where, e)
            entries.append(dataclasses.replace(
                base, error=message, match_error=message))
    return entries


def _parse_entry(item, path, where, base):
    records.validate(item, ENTRY, path, where)
    match = item['match']
    versions = None
    if 'driver_version' in match:
        try:
            versions = version_range.VersionRange(match['driver_version'])
        except version_range.InvalidRange as e:
            raise records.InvalidDocument(path, str(e),
                                          where + '.match.driver_version')
    pci_ids = None
    if 'pci_ids' in match:
        pci_ids = tuple(
            tuple(sorted((key, records.int_value(value))
                         for key, value in ids.items()))
            for ids in match['pci_ids'])
    document, error = None, None
    try:
        document = records.parse_document(
            item['document'], '%s: %s.document' % (path, where))
    except records.InvalidDocument as e:
        error = str(e)
    return dataclasses.replace(
        base, drivers=_as_tuple(match.get('driver')), versions=versions,
        pci_ids=pci_ids, mdev_types=_as_tuple(match.get('mdev_type')),
        document=document, error=error)


@dataclasses.dataclass(frozen=True)
class Claim:
    """What the capability files say about one device.

    ``entry`` is the winning entry (None when no valid entry claims the
    device); ``errors`` are the messages of the invalid entries that claim
    it (each names the file and entry);
    ``warnings`` name the entries that lost a tie.
    """

    entry: Entry = None
    errors: tuple = ()
    warnings: tuple = ()


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """Every entry of every capability file, and the unusable files.

    ``entries`` are in precedence order, lowest first; ``errors`` has one
    message per file (or directory) that could not be used; ``unreadable``
    those of them that could not be read at all (what they say is not
    known, so no device's document can be trusted to be the right one).
    """

    entries: tuple = ()
    errors: tuple = ()
    unreadable: tuple = ()

    def claim(self, device):
        """The :class:`Claim` on ``device``."""
        matching = [e for e in self.entries if e.matches(device)]
        valid = [e for e in matching if e.document is not None]
        errors = tuple(e.error for e in matching if e.document is None)
        if not valid:
            return Claim(errors=errors)
        winner = valid[-1]
        warnings = tuple(
            '%s is claimed by both %s and %s; using %s (it sorts later)'
            % (device.name, loser.where, winner.where, winner.where)
            for loser in valid[:-1])
        return Claim(entry=winner, errors=errors, warnings=warnings)


def _listing(directories):
    """(order, path) of every capability file, in precedence order."""
    found = []
    errors = []
    for dir_index, directory in enumerate(directories):
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            continue
        except OSError as e:
            errors.append('%s: capability directory cannot be read: %s'
                          % (directory, e.strerror or e))
            continue
        for name in names:
            path = os.path.join(directory, name)
            if name.startswith('.') or not name.endswith(SUFFIXES):
                continue
            if os.path.isdir(path):
                continue
            # Any other name of a capability file that is not a regular
            # file (a dangling link, a FIFO) is listed all the same:
            # reading it fails with an error naming it (files.Unreadable,
            # never blocking), as any capability file that cannot be read.
            found.append(((name, dir_index), path))
    found.sort()
    return found, errors


def load_file(path, order=(), max_bytes=files.DEFAULT_MAX_BYTES,
              unreadable=None):
    """``(entries, errors)`` of one capability file, as discovery reads it.

    ``errors`` are the messages of a file that cannot be used (then there
    are no entries) or of its entries whose structure or ``match`` is
    invalid; an entry whose document alone is invalid has its ``error``
    set and is only reported to the devices it claims.  Never raises
    because of the file.  The message of a file that cannot be read at
    all is also appended to the list ``unreadable`` when one is given.
    """
    try:
        data = records.parse_text(files.read_bounded(path, max_bytes),
                                  path, max_bytes)
        entries = parse_file(data, path, order)
    except files.Unreadable as e:
        if unreadable is not None:
            unreadable.append(str(e))
        return [], [str(e)]
    except records.InvalidDocument as e:
        return [], [str(e)]
    except Exception as e:
        # Whatever else a hostile file can provoke (a validator or
        # parser limit) must not hide the other files.
        return [], ['%s: cannot be used: %s' % (path, e)]
    return entries, ['%s; entry ignored' % e.match_error
                     for e in entries if e.match_error]


def load(directories, max_bytes=files.DEFAULT_MAX_BYTES):
    """The :class:`Catalogue` of the capability files in ``directories``.

    Never raises because of one file: its problem becomes one message in
    :attr:`Catalogue.errors` naming it.
    """
    listing, errors = _listing(directories)
    unreadable = list(errors)
    entries = []
    for order, path in listing:
        file_entries, file_errors = load_file(path, order, max_bytes,
                                              unreadable=unreadable)
        entries.extend(file_entries)
        errors.extend(file_errors)
    return Catalogue(entries=tuple(entries), errors=tuple(errors),
                     unreadable=tuple(unreadable))


def check_paths(paths, max_bytes=files.DEFAULT_MAX_BYTES):
    """Every problem discovery would find in these files and directories.

    A directory is listed as ``[discovery] capability_dirs`` are (hidden
    files and other suffixes skipped); a file given by name must have a
    name discovery reads.  Unlike discovery, an entry whose document is
    invalid is a problem even when no device claims it, and a path that
    does not exist is one.

    :returns: ``([(path, number of entries)] of the valid files,
        [message naming the file and the place]``).
    """
    valid, problems = [], []
    for path in paths:
        if os.path.isdir(path):
            listing, errors = _listing([path])
            problems.extend(errors)
            names = [p for _, p in listing]
        elif not os.path.lexists(path):
            problems.append('%s: no such file or directory' % path)
            continue
        else:
            name = os.path.basename(path)
            if name.startswith('.') or not name.endswith(SUFFIXES):
                problems.append(
                    '%s: discovery never reads this file: a capability '
                    'file\'s name ends in %s and does not start with "."'
                    % (path, ', '.join(SUFFIXES)))
                continue
            names = [path]
        for name in names:
            entries, errors = load_file(name, max_bytes=max_bytes)
            errors = errors + [e.error for e in entries
                               if e.error and not e.match_error]
            problems.extend(errors)
            if not errors:
                valid.append((name, len(entries)))
    return valid, problems
