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
Placement); 2 invalid configuration; 3 an internal error (a bug: one line,
the traceback with ``--debug``).  The service itself survives any error in
a sync (it logs it and retries with backoff).
"""

import signal
import sys

from openstack import exceptions as sdk_exceptions
from oslo_config import cfg
from oslo_log import log as logging

from nova_vfio_compat.cmd import common
from nova_vfio_compat import placement_version
from nova_vfio_compat import records
from nova_vfio_compat.reporter import client
from nova_vfio_compat.reporter import hostname
from nova_vfio_compat.reporter import nova_files
from nova_vfio_compat.reporter import service
from nova_vfio_compat.reporter import sources
from nova_vfio_compat.reporter import sync

LOG = logging.getLogger(__name__)

PROG = 'nova-vfio-compat-reporter'
EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_INVALID = common.EXIT_INVALID
EXIT_INTERNAL = common.EXIT_INTERNAL

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
    for error in result.errors:
        print('error: %s' % error, file=out)


def _placement_root(connection):
    """The body of Placement's ``GET /`` (its version document)."""
    response = connection.placement.get('/')
    sdk_exceptions.raise_from_response(response)
    return response.json()


def _fail(message):
    return common.fail(PROG, message)


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    try:
        conf = common.configure(PROG, argv, cli_opts)
    except common.ConfigurationError as e:
        return _fail(e)
    return common.run(PROG, conf, _serve)


def _serve(conf):
    try:
        connection = client.connect(conf)
        source, change_signal = sources.published_source(conf)
        root = hostname.root_identity(conf, sources.nova_view(conf))
    except (client.ConfigurationError, sources.NoDeviceSource,
            nova_files.InvalidNodeIdentity) as e:
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
                    placement_version.REQUIRED_TEXT)
    LOG.info('Publishing to the %s', root.describe())
    reporter = sync.Reporter(
        connection, root.name or root.uuid, root_uuid=root.uuid,
        max_traits=conf.traits.max_traits_per_provider,
        dry_run=conf.dry_run,
        conflict_retries=conf.reporter.conflict_retries)
    if conf.once or conf.dry_run:
        try:
            devices = source()
        except records.InvalidDocument as e:
            return _fail(e)
        except Exception as e:
            return _fail('cannot list the devices of this host: %s' % e)
        result = reporter.sync(devices)
        if conf.dry_run:
            print_plan(result)
        return EXIT_OK if result.ok else EXIT_INCOMPLETE
    svc = service.Service(
        reporter, source, signal=change_signal,
        resync_interval=conf.reporter.resync_interval,
        check_interval=conf.reporter.provider_check_interval,
        debounce=conf.reporter.debounce,
        max_backoff=conf.reporter.max_backoff)

    def _stop(signum, frame):
        LOG.info('Signal %d received, stopping', signum)
        svc.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        svc.run()
    finally:
        close = getattr(change_signal, 'close', None)
        if close is not None:
            close()
    return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
