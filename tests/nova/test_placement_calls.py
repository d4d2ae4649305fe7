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


"""Placement calls per live-migration request: bounded, whatever the fleet.

One per candidate host's tree while hosts times streams is at most
``[vfio_compat_filter] max_tree_reads`` (10 by default), else a constant
number.
"""

import time

import fixtures

from nova.scheduler import manager

from nova_vfio_compat.scheduler import vfio_compat_filter
from tests.nova import base

# [vfio_compat_filter] max_tree_reads here (default 10), and the hosts
# added to the first three: past it, so that the filter asks the fleet
# instead of each tree.  The same paths as the default with 12 hosts,
# for 7 computes fewer.
MAX_TREE_READS = 3
MORE = 2


class PlacementCallsTest(base.VFIOCompatTestBase):

    def setUp(self):
        super().setUp()
        self.windows = []       # Placement requests per select_destinations
        self.hosts_seen = []    # hosts handed to the filter per request
        select = manager.SchedulerManager.select_destinations

        def counting_select(manager_self, *args, **kwargs):
            start = len(self.placement_app.requests)
            try:
                return select(manager_self, *args, **kwargs)
            finally:
                self.windows.append(self.placement_app.requests[start:])
        self.useFixture(fixtures.MonkeyPatch(
            'nova.scheduler.manager.SchedulerManager.select_destinations',
            counting_select))
        filter_all = vfio_compat_filter.VFIOCompatFilter.filter_all

        def seeing_filter_all(filter_self, hosts, spec_obj):
            hosts = list(hosts)
            self.hosts_seen.append(len(hosts))
            return filter_all(filter_self, hosts, spec_obj)
        self.useFixture(fixtures.MonkeyPatch(
            'nova_vfio_compat.scheduler.vfio_compat_filter.'
            'VFIOCompatFilter.filter_all', seeing_filter_all))

    def _migrate_and_count(self):
        del self.windows[:], self.hosts_seen[:]
        self._live_migrate(self.server, 'completed')
        self.assertEqual(1, len(self.windows))
        return self.windows[0]

    def _filter_requests(self, requests):
        # The filter's reads; the others are the scheduler's own: the
        # allocation candidates and the claim for the server.
        claim = '/allocations/%s' % self.server['id']
        return [r for r in requests if r[0] == 'GET' and r[1] != claim and (
            r[1].startswith('/allocations/') or r[1] == '/traits' or
            r[1].startswith('/resource_providers'))]

    def _accept_queries(self, requests):
        return [r for r in self._filter_requests(requests)
                if r[1] == '/resource_providers' and 'required=' in r[2]]

    def test_calls_bounded_for_3_and_5_hosts(self):
        start = time.monotonic()
        self.assertEqual(10, base.CONF.vfio_compat_filter.max_tree_reads)
        self.flags(max_tree_reads=MAX_TREE_READS, group='vfio_compat_filter')
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('B', gpu0=base.ACCEPTS_1_2, gpu1=base.ACCEPTS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        self._boot('A')
        three = self._migrate_and_count()
        self.assertEqual([2], self.hosts_seen)      # B and C
        self.assertEqual('B', self._host_of(self.server))

        # 2 more hosts, every other one accepting; the server now runs
        # on B, whose GPUs emit stream 1.3 (accepted by ACCEPTS_1_2).
        # The 4 hosts handed to the filter are more than its
        # [vfio_compat_filter] max_tree_reads (3): it asks the fleet.
        for i in range(MORE):
            self._start_host(
                'H%02d' % i,
                gpu0=base.ACCEPTS_1_2 if i % 2 else base.REFUSES_1_2,
                gpu1=base.ACCEPTS_1_2 if i % 2 else base.REFUSES_1_2)
        self.server = self.api.get_server(self.server['id'])
        five = self._migrate_and_count()
        self.assertEqual([MORE + 2], self.hosts_seen)     # all but B
        self.assertIn(self._host_of(self.server),
                      ['H%02d' % i for i in range(1, MORE, 2)])

        # allocations, source tree names, one source GPU's traits, which
        # accept traits exist, then the providers accepting the one
        # stream: in the trees of B and C (2 hosts, 1 stream: within
        # max_tree_reads), in the whole fleet for 4 hosts.
        self.assertEqual(6, len(self._filter_requests(three)), three)
        self.assertEqual(
            sorted('in_tree=%s' % self._get_provider_uuid_by_name(h)
                   for h in 'BC'),
            sorted(r[2].split('&')[0] for r in self._accept_queries(three)))
        self.assertEqual(5, len(self._filter_requests(five)), five)
        (fleet,) = self._accept_queries(five)
        self.assertTrue(fleet[2].startswith('required='), fleet)
        # The scheduler's own requests are the same.
        self.assertEqual(len(three) - 6, len(five) - 5)
        # Starting 5 fake computes must stay affordable in CI.
        self.assertLess(time.monotonic() - start, 240)

    def test_max_tree_reads_zero_asks_the_fleet(self):
        self.flags(max_tree_reads=0, group='vfio_compat_filter')
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('B', gpu0=base.ACCEPTS_1_2, gpu1=base.ACCEPTS_1_2)
        self._boot('A')
        requests = self._migrate_and_count()
        self.assertEqual('B', self._host_of(self.server))
        self.assertEqual(5, len(self._filter_requests(requests)), requests)
        (fleet,) = self._accept_queries(requests)
        self.assertTrue(fleet[2].startswith('required='), fleet)
