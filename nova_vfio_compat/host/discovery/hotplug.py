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

"""The hotplug signal: "the host's VFIO devices may have changed".

A :class:`pyudev.Monitor` on the udev netlink socket, with libudev's
socket filter set to the subsystems that matter, is read by
:class:`pyudev.MonitorObserver`'s thread, which blocks in ``poll()`` on the
socket and a stop pipe: nothing wakes up while nothing happens.  Each
relevant event (add, remove, change, bind, unbind, move) marks a change;
:meth:`ChangeMonitor.wait` returns True as soon as one is marked, and
consumes every event marked so far.  It does not wait for a burst (a
driver reload, 64 VFs created) to settle: the reporter's service does,
with ``[reporter] debounce``, the one quiet period between a burst and its
sync (:mod:`nova_vfio_compat.reporter.service`).
"""

import threading

from oslo_log import log as logging
import pyudev

LOG = logging.getLogger(__name__)

# pci: functions added/removed, drivers bound/unbound (VF creation,
# vfio-pci/variant driver binding, a driver upgrade rebinding); mdev: mdevs
# created/removed; module: a driver module loaded or unloaded, which
# changes /sys/module/<drv>/version.
SUBSYSTEMS = ('pci', 'mdev', 'module')
ACTIONS = frozenset(('add', 'remove', 'change', 'bind', 'unbind', 'move'))


class ChangeMonitor:
    """A device-change signal fed by udev events.

    Create it after the device tree exists (under umockdev, after the
    test bed); it starts listening at once.  ``events`` counts the
    relevant events seen, for diagnostics and tests.
    """

    def __init__(self, context=None, subsystems=SUBSYSTEMS):
        self.events = 0
        self._cond = threading.Condition()
        self._changed = False   # an event not reported by wait() yet
        context = context or pyudev.Context()
        self._monitor = pyudev.Monitor.from_netlink(context)
        for subsystem in subsystems:
            self._monitor.filter_by(subsystem)
        # Bind the socket now rather than in the observer thread (which
        # would do it when it gets to run): events sent in between would
        # be lost, and the caller expects to hear of every change after
        # this constructor returns.
        self._monitor.start()
        self._observer = pyudev.MonitorObserver(
            self._monitor, callback=self._on_event,
            name='nova-vfio-compat-udev')
        self._observer.daemon = True
        self._observer.start()

    def _on_event(self, device):
        action = device.action
        if action not in ACTIONS:
            return
        LOG.debug('udev: %s %s (%s)', action, device.sys_path,
                  device.subsystem)
        with self._cond:
            self.events += 1
            self._changed = True
            self._cond.notify_all()

    def wait(self, timeout):
        """Whether a change was marked, or is within ``timeout`` seconds.

        True consumes every event marked so far: the next call waits for
        a new one.
        """
        with self._cond:
            changed = self._cond.wait_for(lambda: self._changed,
                                          max(0.0, timeout))
            self._changed = False
            return changed

    def close(self):
        """Stop listening (joins the observer thread)."""
        if self._observer.is_alive():
            self._observer.send_stop()
            self._observer.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
