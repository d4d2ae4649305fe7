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

"""The reporter's loop: when to sync.

It syncs at start, after a device change is signalled (debounced: once
no change has been signalled for ``debounce`` seconds, the one quiet
period between a burst of changes and its sync), and
every ``resync_interval`` seconds, discovering the devices each time.  In
between, every ``check_interval`` seconds, it syncs the devices it last
discovered: with nothing to change that is one cheap listing of the
host's provider tree (see :mod:`.sync`), and it puts the traits back on a
provider Nova deleted and recreated (a type change, inventory to zero)
within that interval instead of at the next resync.  While Placement is
unreachable, erroring or answering malformed bodies, and after any
unexpected error in a sync, it waits with exponential backoff (1 s
doubling up to ``max_backoff``, each wait drawn at random from its upper
half so that the reporters of a cloud do not all retry in lockstep after
a Placement outage: :func:`backoff_wait`) and keeps going; only
:meth:`Service.stop` (SIGTERM) ends it, between syncs.

While an input the reporter trusts cannot be read
(:mod:`nova_vfio_compat.host.published_devices`), nothing is synced:
what Placement has is kept, and the error is logged once per change, not
at every attempt.
"""

import random
import threading
import time

from oslo_log import log as logging

from nova_vfio_compat.conf import reporter as reporter_conf

LOG = logging.getLogger(__name__)

INITIAL_BACKOFF = 1.0
# How long one wait on the change signal may block, so that stop() is
# noticed promptly whatever the signal object is.
_WAIT_SLICE = 0.5
# A steady stream of change events may delay a sync this many debounce
# periods at most, counted from the first change.
MAX_DEBOUNCE_PERIODS = 10


def backoff_wait(failures, max_backoff, rand=random.random):
    """Seconds to wait after ``failures`` failed syncs in a row (>= 1).

    The ceiling doubles from :data:`INITIAL_BACKOFF` up to
    ``max_backoff``; the wait is drawn uniformly from the upper half of
    it ("equal jitter"): never less than half the ceiling, so a failing
    Placement is not hammered, and spread so that reporters that failed
    together do not retry together.  tenacity's wait strategies compute
    the same thing for a retried call; this loop retries no single call
    (it waits on the device signal and on stop as well), so the rule is
    here, in one line.
    """
    ceiling = min(INITIAL_BACKOFF * 2 ** min(failures - 1, 32), max_backoff)
    return ceiling / 2 + rand() * ceiling / 2


class Service:
    """Runs :meth:`sync.Reporter.sync` over and over.

    :param reporter: a :class:`.sync.Reporter`.
    :param device_source: a callable returning the host's devices.
    :param signal: an object whose ``wait(timeout)`` returns True when the
        devices changed (discovery's :class:`hotplug.ChangeMonitor`); None
        for a service that only resyncs periodically.
    :param on_result: called with each :class:`.sync.SyncResult`.
    :param check_interval: seconds between the checks of Placement with
        the devices last discovered; 0 (or more than ``resync_interval``)
        for none.
    :param debounce: seconds without a signalled change after which a
        burst of changes is synced once (``[reporter] debounce``).
    """

    def __init__(self, reporter, device_source, signal=None,
                 resync_interval=reporter_conf.DEFAULTS['resync_interval'],
                 debounce=reporter_conf.DEFAULTS['debounce'],
                 max_backoff=reporter_conf.DEFAULTS['max_backoff'],
                 on_result=None, check_interval=0):
        self.reporter = reporter
        self.device_source = device_source
        self.signal = signal
        self.resync_interval = resync_interval
        self.check_interval = check_interval
        self.checks = 0
        self._devices = None
        self.debounce = debounce
        self.max_backoff = max_backoff
        self.on_result = on_result
        self.syncs = 0
        self.last_result = None
        self.failure = None     # why the last sync is to be retried
        # The input error last logged (logged again only when it changes).
        self.input_error = None
        self._stopping = threading.Event()

    def stop(self):
        """Ask the loop to end after the current sync (signal-safe)."""
        self._stopping.set()

    @property
    def stopping(self):
        return self._stopping.is_set()

    def run(self):
        """Sync until :meth:`stop`; returns normally."""
        LOG.info('Reporting the devices of %s to Placement (resync every '
                 '%ds, check every %ss)', self.reporter.nodename,
                 self.resync_interval, self.check_interval or 'never')
        failures = 0
        discover = True
        next_resync = 0.0
        while not self.stopping:
            try:
                synced = self.sync_once(discover=discover)
            except Exception as e:
                # sync_once() guards the sync itself; this is the last
                # barrier (a failing on_result callback, a logging error).
                LOG.exception('Sync failed unexpectedly: %s', e)
                self.failure = 'the sync failed: %s' % type(e).__name__
                synced = False
            if synced:
                failures = 0
                if discover:
                    next_resync = time.monotonic() + self.resync_interval
                wait = max(next_resync - time.monotonic(), 0)
                if self.check_interval:
                    wait = min(wait, self.check_interval)
            else:
                failures += 1
                wait = backoff_wait(failures, self.max_backoff)
                # An unreadable input was logged once when it appeared.
                log = LOG.debug if self._devices is None and \
                    self.input_error is not None else LOG.warning
                log('Sync incomplete (%s); retrying in %.1fs',
                    self.failure, wait)
            changed = False
            try:
                changed = self._wait_for_change(wait)
                if changed:
                    self._debounce()
            except Exception as e:
                # A broken change signal (udev monitor) must not end the
                # service either: resync on the timer alone for this wait.
                LOG.exception('Waiting for device changes failed: %s', e)
                self._stopping.wait(wait)
            discover = (changed or self._devices is None or
                        time.monotonic() >= next_resync)
        LOG.info('Stopped')

    def sync_once(self, discover=True):
        """One sync; False when it should be retried with backoff.

        That is when Placement failed, and when the compute node root
        provider is missing: nova-compute creates it at start, sooner than
        the next resync.  An mdev parent provider Nova did not create is
        not a failure (``SyncResult.absent``: a GPU without capacity for
        its type has none).  With ``discover`` False it syncs the
        devices the last discovery found (a check).
        """
        if discover or self._devices is None:
            try:
                self._devices = list(self.device_source())
            except Exception as e:
                # An input that cannot be read (Nova's configuration, the
                # device list, a capability file) or a discovery failure:
                # nothing is synced, so Placement keeps what was
                # published, and the service goes on; the devices are read
                # again at the next attempt.
                self._devices = None
                self._input_failed(e)
                return False
            if self.input_error is not None:
                LOG.info('The inputs of this host can be read again; '
                         'publishing resumes')
                self.input_error = None
        else:
            self.checks += 1
        try:
            result = self.reporter.sync(self._devices)
        except Exception as e:
            # Whatever goes wrong in one sync (a malformed answer the
            # client library choked on, a bug) must not end the service:
            # it is logged and the sync retried with backoff.  Nothing was
            # written from a read that failed.
            LOG.exception('Sync failed unexpectedly: %s', e)
            self.failure = 'the sync failed: %s: %s' % (type(e).__name__, e)
            return False
        self.syncs += 1
        self.last_result = result
        if not result.placement_failed:
            # A check that changed nothing is not worth a line every few
            # seconds.
            log = LOG.info if discover or result.writes else LOG.debug
            log('Sync %d: %d write requests, %d providers changed, %d '
                'errors', self.syncs, result.writes, len(result.changes),
                len(result.errors))
        if result.placement_failed:
            self.failure = 'Placement is unreachable or failing'
        elif result.missing:
            self.failure = ('resource providers missing in Placement: %s'
                            % ', '.join(result.missing))
        else:
            self.failure = None
        # After failure is set: a watcher of the results sees both agree.
        if self.on_result is not None:
            self.on_result(result)
        return self.failure is None

    def _input_failed(self, error):
        """Log ``error`` once per change; keep what was published."""
        message = ' '.join(str(error).split()) or type(error).__name__
        self.failure = 'the devices of this host cannot be read; what ' \
            'Placement has is kept'
        if message == self.input_error:
            return
        self.input_error = message
        LOG.error('Nothing published or withdrawn: %s', message)

    def _wait_for_change(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.signal is None:
                self._stopping.wait(min(left, _WAIT_SLICE))
            elif self.signal.wait(min(left, _WAIT_SLICE)):
                LOG.debug('Device change signalled')
                return True
        return False

    def _debounce(self):
        """Wait until no change is signalled for ``debounce`` seconds.

        The signal reports every change as it comes (discovery's udev
        monitor does not wait for its events to settle), so this is the
        one quiet period.  A steady stream of changes still ends it
        :data:`MAX_DEBOUNCE_PERIODS` periods after the first change.
        """
        latest = time.monotonic() + self.debounce * MAX_DEBOUNCE_PERIODS
        while not self.stopping:
            quiet = min(self.debounce, latest - time.monotonic())
            if quiet <= 0 or not self._wait_for_change(quiet):
                return
