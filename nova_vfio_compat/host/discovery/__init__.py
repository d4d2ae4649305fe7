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

"""Host discovery: which VFIO devices this host has, and their documents.

:func:`discover` is the entry point: it enumerates the host through udev
(:mod:`.udev`), resolves each device's capability document from its
sources (:mod:`.document_sources`: compatibility attribute, capability files, a
derived record) and returns :class:`nova_vfio_compat.model.devices.Device`
values.  :func:`monitor` gives the debounced change signal the reporter
waits on (:mod:`.hotplug`).
"""

import dataclasses
import threading

from oslo_log import log as logging

from nova_vfio_compat.host.discovery import capability_files
from nova_vfio_compat.host.discovery import document_sources
from nova_vfio_compat.host.discovery import hotplug
from nova_vfio_compat.host.discovery import udev
from nova_vfio_compat.model import migration_drivers

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Result:
    """What one discovery pass found.

    ``devices`` sorted by name; ``file_errors`` one line per capability
    file (or directory) that could not be used at all, ``unreadable``
    those of them that could not even be read; ``warnings`` one line per
    tie between capability files.
    """

    devices: tuple
    file_errors: tuple = ()
    warnings: tuple = ()
    unreadable: tuple = ()


class _OncePerProblem:
    """Logs each problem once while it persists.

    Discovery runs again at every resync and after every udev event; a
    broken file would otherwise be logged every time.  A message is logged
    when it was not in the previous pass (so a problem that is fixed and
    comes back is logged again).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._previous = frozenset()

    def log(self, warnings, errors):
        with self._lock:
            new = set()
            for level, messages in ((LOG.warning, warnings),
                                    (LOG.error, errors)):
                for message in messages:
                    new.add(message)
                    if message not in self._previous:
                        level('%s', message)
            self._previous = frozenset(new)


_reported = _OncePerProblem()


def scan(conf, context=None):
    """One discovery pass over the host (or ``context``'s sysfs).

    Never raises because of one device or one file: their problems are in
    the devices' ``errors`` and in :attr:`Result.file_errors`.
    """
    opts = conf.discovery
    catalogue = capability_files.load(opts.capability_dirs,
                                      opts.max_document_size)
    facts = udev.scan(context)
    devices, ties, log_warnings, log_errors = [], [], [], []
    for found in facts.devices:
        try:
            resolution = document_sources.resolve(
                found, catalogue, opts.compat_attribute,
                opts.max_document_size, facts.kernel_release)
        except Exception as e:
            # A bug or an unforeseen fault in one device's sources must not
            # hide the other devices; the device is reported without a
            # document so the operator sees it.
            LOG.exception('%s: discovery failed', found.name)
            devices.append(document_sources.unresolved(found, e))
            continue
        device = resolution.device
        if migration_drivers.enabled(device.address, device.physfn,
                                     opts.migration_enabled):
            device = dataclasses.replace(device, migration_enabled=True)
        devices.append(device)
        ties.extend(resolution.warnings)
        # A rejected source with a fallback is a warning; a device left
        # without any document is an error.
        messages = ['%s: %s' % (device.name, e) for e in device.errors]
        if device.document is None:
            log_errors.extend(messages)
        else:
            log_warnings.extend(messages)
    devices.sort(key=lambda d: d.name)
    _reported.log(ties + log_warnings, list(catalogue.errors) + log_errors)
    return Result(devices=tuple(devices), file_errors=catalogue.errors,
                  warnings=tuple(ties), unreadable=catalogue.unreadable)


def discover(conf, context=None):
    """The VFIO-relevant devices of this host, sorted by name.

    Each has its capability document and provenance; see :func:`scan`.
    """
    return list(scan(conf, context).devices)


def monitor(conf, context=None):
    """A started :class:`hotplug.ChangeMonitor` for this host's devices.

    ``wait(timeout)`` is True once a relevant udev event arrived (the
    reporter's service waits for a burst to settle, ``[reporter]
    debounce``); ``close()`` stops it.  ``conf`` is taken for the
    callers' sake: no option applies to the monitor itself.
    """
    return hotplug.ChangeMonitor(context)
