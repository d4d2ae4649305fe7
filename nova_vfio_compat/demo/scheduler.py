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
``HostState`` objects and a ``RequestSpec``, with two seams replaced
because the demo has no Nova services: the cell database look-up that
finds the Migration (the conductor would have created it), and the
Placement client (Nova's report client reads nova.conf; the demo hands
the filter a getter on its own openstacksdk connection).  Every Placement
read and every decision is the filter's own, and the lines it logs are the
ones an operator would find in the scheduler log.
"""

import logging
import os
import types

# Native threads, as nova-scheduler runs: decided before nova is imported.
os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

from nova import objects  # noqa: E402
from nova.scheduler import host_manager  # noqa: E402

from nova_vfio_compat.scheduler import vfio_compat_filter  # noqa: E402

objects.register_all()


class DemoFilter(vfio_compat_filter.VFIOCompatFilter):
    """VFIOCompatFilter with the migration and Placement client given."""

    def __init__(self, migration_uuid, source_host, source_root, get):
        super().__init__()
        self._found = (types.SimpleNamespace(uuid=migration_uuid,
                                             source_compute=source_host),
                       source_root)
        self._get = get

    def _live_migration(self, ctxt, spec_obj):
        return self._found

    def _placement_get(self, ctxt):
        return self._get


class _Lines(logging.Handler):
    """Collects the filter's log lines, by host."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.by_host = {}

    def emit(self, record):
        args = record.args if isinstance(record.args, dict) else {}
        self.by_host.setdefault(args.get('host'), []).append(
            (args.get('why'), record.getMessage()))


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
    lines = _Lines()
    logger = logging.getLogger(vfio_compat_filter.__name__)
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        passed = list(DemoFilter(migration_uuid, source_host, source_root,
                                 get).filter_all(states, spec))
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
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
