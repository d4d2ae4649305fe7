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

"""``nova-vfio-compat-reporter``: the Placement reporter service.

Runs beside nova-compute; reads nova.conf's ``[placement]`` section (or a
clouds.yaml cloud) and this project's own options.

Exit status: 0 stopped cleanly (SIGTERM/SIGINT) or, with ``--once`` /
``--dry-run``, everything published (or planned); 1 with ``--once`` /
``--dry-run``, something could not be published (a device, a provider,
Placement); 2 invalid configuration, or an input it trusts (Nova's
configuration, the device list, a capability directory or file) that
cannot be read: nothing is then published or withdrawn; 3 an internal
error (a bug: one line, the traceback with ``--debug``).  The service
itself survives any error in a sync (it logs it and retries with
backoff).

Signals: SIGTERM and SIGINT end the service within
:data:`STOP_GRACE` seconds whatever it is waiting on (a sync still in
progress then, a stalled Placement request, is abandoned: the next start
syncs again).  SIGHUP reloads the configuration files and restarts the
service with them, as oslo.service's launchers do; a configuration that
cannot be parsed or is invalid is logged and the service keeps running
with the one it had.
"""

import functools
import signal
import sys
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from nova_vfio_compat.cmd import common
from nova_vfio_compat.host import compute_conf
from nova_vfio_compat.host import published_devices
from nova_vfio_compat.model import records
from nova_vfio_compat.placement import sessions as placement_sessions
from nova_vfio_compat.placement import version as placement_version
from nova_vfio_compat.reporter import client
from nova_vfio_compat.reporter import hostname
from nova_vfio_compat.reporter import service
from nova_vfio_compat.reporter import sync

LOG = logging.getLogger(__name__)

PROG = 'nova-vfio-compat-reporter'
EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_INVALID = common.EXIT_INVALID
EXIT_INTERNAL = common.EXIT_INTERNAL

# Seconds between SIGTERM and the end of the process at most (the unit
# file's TimeoutStopSec leaves room for it).
STOP_GRACE = 5.0
_JOIN_SLICE = 0.2

cli_opts = [
    cfg.BoolOpt('once', default=False,
                help='Sync once and exit; the exit status says whether '
                     'everything was published.'),
    cfg.BoolOpt('dry-run', default=False,
                help='Read Placement and print which traits would be added '
                     'to and removed from which provider; write nothing. '
                     'Implies --once.'),
]


def print_plan(result, out=None):
    """Print what a dry-run sync would do (on standard output by default)."""
    out = out or sys.stdout
    for name in result.created_traits:
        print('create trait %s' % name, file=out)
    for name in result.created_resource_classes:
        print('create resource class %s' % name, file=out)
    for provider, change in sorted(result.changes.items()):
        print('resource provider %s:' % provider, file=out)
        for name in sorted(change.added):
            print('  + %s' % name, file=out)
        for name in sorted(change.removed):
            print('  - %s' % name, file=out)
    if not (result.changes or result.created_traits or
            result.created_resource_classes or result.placement_failed or
            result.missing):
        print('nothing to change', file=out)
    for name in result.absent:
        print('no resource provider %s (Nova gives a GPU none while it has '
              'no capacity for its mdev type)' % name, file=out)
    for line in result.left_out:
        print('left out: %s' % line, file=out)
    for error in result.errors:
        print('error: %s' % error, file=out)


def _placement_root(connection):
    """The body of Placement's ``GET /`` (its version document)."""
    return placement_sessions.sdk_reader(connection)('/', None)


def _fail(message):
    return common.fail(PROG, message)


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    try:
        conf = common.configure(PROG, argv, cli_opts)
    except common.ConfigurationError as e:
        return _fail(e)
    return common.run(PROG, conf, functools.partial(_serve, argv=argv))


def _setup(conf):
    """``(reporter, device source, change signal)``, or an exit status."""
    try:
        connection = client.connect(conf)
        source, change_signal = published_devices.published_source(conf)
        root = hostname.root_identity(conf, published_devices.nova_view(conf))
    except (client.ConfigurationError, published_devices.NoDeviceSource,
            compute_conf.InvalidNodeIdentity) as e:
        return _fail(e)
    except Exception as e:
        # keystoneauth and the SDK raise a variety of errors for bad
        # [placement] or clouds.yaml settings; none deserves a traceback.
        return _fail('cannot set up the Placement client: %s' % e)
    try:
        placement_version.check(_placement_root(connection))
    except placement_version.PlacementTooOld as e:
        return _fail(e)
    except sync.PLACEMENT_ERRORS as e:
        # The service starts before Placement is up as well; the traits
        # are of no use to an older Placement, but that is not a reason
        # to stop retrying.
        LOG.warning('Cannot check the Placement API version now (%s); '
                    'nova-vfio-compat needs microversion %s or later', e,
                    placement_version.MICROVERSION)
    LOG.info('Publishing to the %s', root.describe())
    reporter = sync.Reporter(
        connection, root.name or root.uuid, root_uuid=root.uuid,
        max_traits=conf.traits.max_traits_per_provider,
        dry_run=conf.dry_run,
        conflict_retries=conf.reporter.conflict_retries)
    return reporter, source, change_signal


def _serve(conf, argv=()):
    if conf.once or conf.dry_run:
        return _once(conf)
    signals = _Signals()
    signal.signal(signal.SIGTERM, signals.on_stop)
    signal.signal(signal.SIGINT, signals.on_stop)
    signal.signal(signal.SIGHUP, signals.on_reload)
    # The set-up asks Placement its version: it may stall too.
    done, built = _waited(lambda: _setup(conf), signals)
    if not done or signals.stop:
        return EXIT_OK
    signals.reload = False      # the configuration was just read
    if isinstance(built, int):
        return built
    reporter, source, change_signal = built
    while True:
        svc = service.Service(
            reporter, source, signal=change_signal,
            resync_interval=conf.reporter.resync_interval,
            check_interval=conf.reporter.provider_check_interval,
            debounce=conf.reporter.debounce,
            max_backoff=conf.reporter.max_backoff)
        done, _ = _waited(svc.run, signals, stop=svc.stop)
        if not done or signals.stop:
            _close(change_signal)
            return EXIT_OK
        if not signals.reload:
            _close(change_signal)
            LOG.error('The reporter service ended unexpectedly')
            return EXIT_INTERNAL
        signals.reload = False
        done, built = _waited(lambda: _reload(conf, argv), signals)
        if not done or signals.stop:
            _close(change_signal)
            return EXIT_OK
        if built is not None:
            _close(change_signal)
            reporter, source, change_signal = built


def _once(conf):
    built = _setup(conf)
    if isinstance(built, int):
        return built
    reporter, source, _signal = built
    try:
        devices = source()
    except (records.InvalidDocument, published_devices.InputUnavailable) as e:
        return _fail(e)
    except Exception as e:
        return _fail('cannot list the devices of this host: %s' % e)
    result = reporter.sync(devices)
    if conf.dry_run:
        print_plan(result)
    return EXIT_OK if result.ok else EXIT_INCOMPLETE


def _close(change_signal):
    close = getattr(change_signal, 'close', None)
    if close is not None:
        close()


class _Signals:
    """What the signal handlers asked for (set from the main thread)."""

    def __init__(self):
        self.stop = False
        self.reload = False

    def on_stop(self, signum, frame):
        LOG.info('Signal %d received, stopping', signum)
        self.stop = True

    def on_reload(self, signum, frame):
        LOG.info('Signal %d (SIGHUP) received, reloading the '
                 'configuration', signum)
        self.reload = True


def _waited(func, signals, stop=None):
    """``(True, func())``, or ``(False, None)`` when abandoned.

    ``func`` runs in a daemon thread; the main thread only waits, so that
    the signal handlers run whatever ``func`` is blocked on.  On SIGTERM
    (and, with ``stop``, on SIGHUP) ``stop()`` is called; after SIGTERM
    ``func`` gets :data:`STOP_GRACE` seconds and is then abandoned (a
    Placement request still in progress; the next start syncs again).
    """
    outcome = []

    def target():
        try:
            outcome.append((True, func()))
        except BaseException as e:
            outcome.append((False, e))

    worker = threading.Thread(target=target, name='reporter', daemon=True)
    worker.start()
    deadline = None
    while worker.is_alive():
        worker.join(_JOIN_SLICE)
        if stop is not None and (signals.stop or signals.reload):
            stop()
        if signals.stop and deadline is None:
            deadline = time.monotonic() + STOP_GRACE
        if deadline is not None and time.monotonic() >= deadline:
            LOG.warning('What the reporter was doing did not end within '
                        '%.0fs of the signal; stopping without it',
                        STOP_GRACE)
            return False, None
    ok, value = outcome[0]
    if not ok:
        raise value
    return True, value


def _reload(conf, argv):
    """Reload the configuration files; the new set-up, or None to keep.

    As oslo.service does on SIGHUP: ``reload_config_files()``, which
    keeps the configuration it had when a file cannot be parsed.  The
    files are first parsed and checked on a ConfigOpts of their own, so
    that a value that cannot be used (``resync_interval = soon``) never
    reaches the configuration in use.
    """
    try:
        common.parsed(PROG, argv, cli_opts)
    except common.ConfigurationError as e:
        LOG.error('The configuration files could not be reloaded (%s); '
                  'the service goes on with the configuration it had', e)
        return None
    if not conf.reload_config_files():
        LOG.error('The configuration files could not be reloaded; the '
                  'service goes on with the configuration it had')
        return None
    built = _setup(conf)
    if isinstance(built, int):
        LOG.error('The reloaded configuration cannot be used; the service '
                  'goes on with the set-up it had')
        return None
    LOG.info('Configuration reloaded')
    return built


if __name__ == '__main__':
    sys.exit(main())
