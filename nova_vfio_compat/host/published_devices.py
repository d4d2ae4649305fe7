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

"""Where the reporter and the config commands get the host's devices.

The devices found (a device list or udev discovery) go through
:mod:`nova_vfio_compat.model.publication` with Nova's own configuration
(:mod:`.compute_conf`), so that only what Nova will really use is published.

One rule for the inputs the reporter trusts (Nova's configuration files
and directories, the device list and the documents it names, the
capability directories and files): when one cannot be read, what it says
is not known, and that is not the same as it saying nothing.  Getting the
devices then raises :exc:`InputUnavailable` (or
:exc:`records.InvalidDocument` for a device list that cannot be used):
nothing is published from that pass and Placement keeps what it has.
The service logs it once per change and retries
(:meth:`.service.Service.sync_once`); ``--once`` exits non-zero.
"""

import threading

from oslo_log import log as logging

from nova_vfio_compat.host import compute_conf
from nova_vfio_compat.host import compute_conf_in_force
from nova_vfio_compat.host import device_list
from nova_vfio_compat.host import files
from nova_vfio_compat.model import device_config
from nova_vfio_compat.model import publication

LOG = logging.getLogger(__name__)


class NoDeviceSource(ValueError):
    """Neither a device list nor discovery is available."""


class InputUnavailable(ValueError):
    """An input the reporter trusts cannot be read; the message names it."""


def nova_view(conf, config_files=None):
    """Nova's files: ``config_files`` if given, else ``[nova]``'s.

    ``config_files`` is a command's ``--nova-config``; the default is
    ``[nova] config_files`` and ``config_dirs``.
    """
    if config_files:
        return compute_conf.load(config_files)
    return compute_conf.load(conf.nova.config_files, conf.nova.config_dirs)


def decide(conf, devices, nova, operator=None):
    """The :class:`publication.Outcome` of ``devices`` under ``nova``."""
    return publication.decide(
        devices, mdev_config=nova.mdev_config, config_error=nova.error,
        precreated_mdev_attrs=conf.nova.precreated_mdev_attrs,
        operator=operator, max_traits=conf.traits.max_traits_per_provider)


class _Changes:
    """Logs the messages of a decision when they differ from the last."""

    def __init__(self):
        self._lock = threading.Lock()
        self._last = None

    def log(self, outcome):
        # The host-wide messages (no Nova configuration) are warnings; what
        # is left out of each device follows from the configuration, and
        # a host with many GPUs and types has many such lines.
        messages = [(LOG.warning, m) for m in outcome.messages]
        for decision in outcome.decisions:
            name = decision.device.name
            if decision.reason:
                messages.append((LOG.info, '%s: %s' % (name,
                                                       decision.reason)))
            messages.extend((LOG.info, '%s: %s' % (name, note))
                            for note in decision.notes)
        with self._lock:
            if messages == self._last:
                return
            self._last = messages
        for level, message in messages:
            level('%s', message)


def published_source(conf, device_list_path=None,
                     started=compute_conf_in_force.compute_started):
    """``(callable returning the devices to publish, change signal)``.

    Like :func:`device_source`, with Nova's configuration read again at
    each call (it is small, and nova-compute may have been reconfigured
    and restarted since), the one in force chosen
    (:class:`.compute_conf_in_force.InForce`: a change takes effect once
    nova-compute restarted) and :mod:`publication` applied.

    :param started: when nova-compute started, for
        :class:`.compute_conf_in_force.InForce`.
    """
    source, change_signal = device_source(conf, device_list_path,
                                          hold=True)
    changes = _Changes()
    # nova-compute runs with what it loaded at start, not what the files
    # say now.
    in_force = compute_conf_in_force.InForce(started)

    def devices():
        nova = in_force.choose(nova_view(conf))
        if nova.error:
            # Never "Nova uses no type": that would withdraw every vGPU
            # trait published while the file was readable.
            raise InputUnavailable(
                '%s; nothing is published or withdrawn until it can be '
                'read' % nova.error)
        if nova.mdev_config is not None:
            # A configuration nova-compute refuses to start with says
            # nothing of the types it uses: held the same way.
            try:
                device_config.gpu_types(nova.mdev_config)
            except device_config.InvalidMdevConfig as e:
                raise InputUnavailable(
                    '%s; nothing is published or withdrawn until it is '
                    'fixed' % e)
        outcome = decide(conf, source(), nova)
        changes.log(outcome)
        return outcome.published

    return devices, change_signal


def device_source(conf, device_list_path=None, hold=False):
    """``(callable returning the devices, change signal or None)``.

    ``device_list_path`` (or ``[reporter] device_list``) names a static
    device list; otherwise udev discovery is used, with its hotplug monitor
    as the change signal when it has one.  With ``hold`` (the reporter)
    a file that cannot be read raises :exc:`InputUnavailable`; without
    (the commands that show the devices) it is reported with the devices
    it concerns, and the others are shown.
    """
    path = device_list_path or conf.reporter.device_list
    if path:
        if not hold:
            return (lambda: device_list.load(path)), None
        return (lambda: _listed(path)), None
    try:
        # Imported here: discovery needs libudev, which the rest of the
        # reporter (and hosts with a device list) do not.
        from nova_vfio_compat.host import discovery
    except ImportError as e:
        raise NoDeviceSource(
            'udev discovery is not available (%s); set [reporter] '
            'device_list' % e)
    monitor = getattr(discovery, 'monitor', None)
    change_signal = monitor(conf) if monitor is not None else None

    def discovered():
        result = discovery.scan(conf)
        if hold and result.unreadable:
            raise InputUnavailable(
                '%s; nothing is published or withdrawn until it can be '
                'read' % '; '.join(result.unreadable))
        return list(result.devices)

    return discovered, change_signal


def _listed(path):
    try:
        return device_list.load(path, hold_unreadable=True)
    except files.Unreadable as e:
        raise InputUnavailable('%s; nothing is published or withdrawn '
                               'until it can be read' % e)
