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


"""Asking the candidates' trees decides as asking the whole fleet.

The real filter class through Nova's ``filter_all``, its reads answered
by the real Placement app (in-process) holding the benchmark's fleet as
the reporter published it; the live migration is handed to it through its
public ``live_migration`` argument.  Servers hold a vGPU on GPUs of every
version of the fleet; each is checked against every other host, once
asking about the candidate hosts' trees alone (``[vfio_compat_filter]
max_tree_reads`` large enough) and once about the whole fleet
(``max_tree_reads`` = 0, the reads before that option).
"""

import uuid as uuid_lib

from oslo_config import cfg
import pytest

from nova import objects

from benchmarks import scenarios
from nova_vfio_compat.scheduler import vfio_compat_filter

CONF = cfg.CONF
HOSTS = 10


@pytest.fixture(scope='module')
def cloud():
    objects.register_all()
    with scenarios.grown_fleet(HOSTS) as (placement, the_fleet):
        servers = [vfio_compat_filter.LiveMigration(
            the_fleet.migration.uuid, 'source', the_fleet.source_root)]
        # GPUs 0 and 1 of every host: versions 1.0 to 1.3 and 2.0.
        for host in the_fleet.hosts:
            for gpu in list(host.gpus)[:2]:
                consumer = str(uuid_lib.uuid4())
                scenarios.put(placement.sdk.placement,
                              '/allocations/%s' % consumer, {
                                  'allocations': {
                                      gpu: {'resources': {'VGPU': 1}}},
                                  'project_id': str(uuid_lib.uuid4()),
                                  'user_id': str(uuid_lib.uuid4()),
                                  'consumer_generation': None}, '1.28')
                servers.append(vfio_compat_filter.LiveMigration(
                    consumer, host.name, host.uuid))
        by_root = the_fleet.allocation_candidates(placement.nova_adapter())
        yield placement, the_fleet, servers, by_root


@pytest.fixture
def tree_reads():
    def set_to(value):
        CONF.set_override('max_tree_reads', value, 'vfio_compat_filter')
    yield set_to
    CONF.clear_override('max_tree_reads', 'vfio_compat_filter')


def _decide(cloud, server, hosts):
    """``([(host, kept candidates)], requests, GET bytes)`` of one run."""
    placement, the_fleet, _, by_root = cloud
    states, reset = scenarios.host_states(hosts, by_root)
    reset()
    the_filter = vfio_compat_filter.VFIOCompatFilter(
        live_migration=lambda spec_obj: server)
    placement.app.reset()
    passed = list(the_filter.filter_all(
        states, scenarios.request_spec(server.source_host)))
    return ([(s.host, s.allocation_candidates) for s in passed],
            placement.app.total, placement.app.read_bytes)


def test_same_decisions_for_every_server_and_host(cloud, tree_reads):
    _, the_fleet, servers, _ = cloud
    pairs = passed = 0
    for server in servers:
        hosts = [h for h in the_fleet.hosts if h.name != server.source_host]
        tree_reads(len(hosts))
        by_trees, tree_requests, _ = _decide(cloud, server, hosts)
        tree_reads(0)
        by_fleet, fleet_requests, _ = _decide(cloud, server, hosts)
        assert by_trees == by_fleet, server
        # One source device, one stream: one request per tree instead of
        # one for the fleet (allocations, source tree, source traits and
        # trait names are read either way).
        assert tree_requests == fleet_requests - 1 + len(hosts), server
        pairs += len(hosts)
        passed += len(by_fleet)
    # Not a vacuous comparison: hosts pass and hosts are rejected.
    assert 0 < passed < pairs


def test_few_candidates_read_less_than_the_fleet(cloud, tree_reads):
    _, the_fleet, servers, _ = cloud
    server = servers[0]
    hosts = the_fleet.hosts[3:6]
    tree_reads(10)
    by_trees, tree_requests, tree_bytes = _decide(cloud, server, hosts)
    tree_reads(0)
    by_fleet, fleet_requests, fleet_bytes = _decide(cloud, server, hosts)
    assert by_trees == by_fleet
    # Host 5's GPUs run another major version.
    assert [h for h, _ in by_trees] == ['host00004', 'host00006']
    assert (tree_requests, fleet_requests) == (4 + 3, 5)
    assert tree_bytes < fleet_bytes / 2


def test_more_hosts_than_allowed_ask_the_fleet(cloud, tree_reads):
    _, the_fleet, servers, _ = cloud
    tree_reads(HOSTS - 1)
    _, requests, _ = _decide(cloud, servers[0], the_fleet.hosts)
    assert requests == 5
