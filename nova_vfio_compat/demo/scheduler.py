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

"""The demo's stand-in for nova-scheduler: the real VFIOCompatFilter.

The filter class runs whole, through Nova's ``filter_all`` over Nova
``HostState`` objects and a ``RequestSpec``, given through its public
constructor arguments what the demo has instead of Nova's services: the
live migration the conductor would have recorded (instead of the cell
database look-up) and a Placement getter on the demo's own openstacksdk
connection (instead of Nova's report client).  Every Placement read and
every decision is the filter's own, and the lines it logs are the ones an
operator would find in the scheduler log (at DEBUG, one per host).
"""

import logging
import os
import sys

# Native threads, as nova-scheduler runs, decided before anything imports
# nova, the way nova's own commands decide it: monkey_patch.patch() in
# threading mode selects oslo.service's threading backend and keeps
# eventlet from being imported at all.  Without it futurist (which
# nova.context imports) imports eventlet, which warns on import that it
# is deprecated, and oslo.service loads its eventlet backend: noise
# before the demo's output, about a library the demo does not use.  A
# process that has imported eventlet already (a test run) is left as it
# is: nova refuses to forbid an import that has happened.
os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')
if 'eventlet' not in sys.modules:
    from nova import monkey_patch
    monkey_patch.patch()

from nova import objects  # noqa: E402
from nova.scheduler import host_manager  # noqa: E402

from nova_vfio_compat.scheduler import vfio_compat_filter  # noqa: E402

objects.register_all()


class _Lines(logging.Handler):
    """Collects the filter's log lines, by host.

    The filter's logger is lowered to DEBUG to collect every line; the
    lines are passed on to the logging the command set up (``parent``)
    only from the level it would have logged anyway (``shown``).
    """

    def __init__(self, parent, shown):
        super().__init__(logging.DEBUG)
        self.by_host = {}
        self.parent = parent
        self.shown = shown

    def emit(self, record):
        args = record.args if isinstance(record.args, dict) else {}
        self.by_host.setdefault(args.get('host'), []).append(
            (args.get('why'), record.getMessage()))
        if record.levelno >= self.shown and self.parent is not None:
            self.parent.handle(record)


def schedule(migration_uuid, source_host, source_root, get, candidates,
             host_names):
    """Run the filter for one live migration.

    :param candidates: ``{root uuid: [allocation candidate]}`` as Nova's
        scheduler builds them from ``GET /allocation_candidates``.
    :param host_names: ``{root uuid: host name}``.
    :returns: ``{host: {passes, candidates, kept, reasons, log}}``.
    """
    states = []
    for root, host_candidates in sorted(candidates.items()):
        state = host_manager.HostState(host_names[root], host_names[root],
                                       'cell1')
        state.uuid = root
        state.allocation_candidates = list(host_candidates)
        states.append(state)
    spec = objects.RequestSpec(
        instance_uuid=migration_uuid, ignore_hosts=[source_host],
        flavor=objects.Flavor(extra_specs={}), scheduler_hints={},
        num_instances=1)
    logger = logging.getLogger(vfio_compat_filter.__name__)
    level, propagate = logger.level, logger.propagate
    lines = _Lines(logger.parent if propagate else None,
                   logger.getEffectiveLevel())
    logger.addHandler(lines)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    migration = vfio_compat_filter.LiveMigration(
        migration_uuid, source_host, source_root)
    the_filter = vfio_compat_filter.VFIOCompatFilter(
        live_migration=lambda spec_obj: migration, placement_get=get)
    try:
        passed = list(the_filter.filter_all(states, spec))
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
        logger.propagate = propagate
    results = {}
    for state in states:
        logged = lines.by_host.get(state.host, [])
        results[state.host] = {
            'passes': state in passed,
            'candidates': len(candidates[state.uuid]),
            'kept': state.allocation_candidates if state in passed else [],
            'reasons': [str(why) for why, _ in logged if why is not None],
            'log': [message for _, message in logged],
        }
    return results
