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


"""Live migrations through Nova with VFIOCompatFilter deciding the host."""

from nova import context
from nova import objects
from nova.tests.functional.api import client
from oslo_utils.fixture import uuidsentinel as uuids

from nova_vfio_compat.model import traits as nvc_traits
from tests.nova import base

STREAM = nvc_traits.emit_trait(base.EMITS_1_2.emits)


class LiveMigrationTest(base.VFIOCompatTestBase):

    def _assert_no_valid_host(self, host=None):
        """The live migration fails in the scheduler; nothing moves."""
        before = self._device_allocations(self.server)
        # CastAsCallFixture makes the conductor's cast a call, so
        # NoValidHost comes back as a 500 on the POST; a real cloud answers
        # 202 and only the migration record says error.
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, self.server, 'error',
                               host=host)
        self.assertEqual(500, ex.response.status_code)
        self.assertIn('NoValidHost', str(ex))
        server = self._wait_for_state_change(self.server, 'ACTIVE')
        self.assertEqual('A', server['OS-EXT-SRV-ATTR:host'])
        self.assertIsNone(server['OS-EXT-STS:task_state'])
        migration = self._wait_for_migration_status(self.server, ['error'])
        self.assertEqual('live-migration', migration['migration_type'])
        self.assertEqual(before, self._device_allocations(self.server))
        self.assert_mdev_usage(self.computes['A'], 1)
        return migration

    def test_lands_on_the_host_that_accepts_the_stream(self):
        # One cloud (most of a test's CPU time) for a requested host
        # refused, then no host named.
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('B', gpu0=base.ACCEPTS_1_2, gpu1=base.ACCEPTS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        self._boot('A')

        # Named without force (microversion >= 2.68 has no force): the
        # scheduler checks the one host.
        self._assert_no_valid_host(host='C')
        self.assertTrue([line for line in self._filter_log()
                         if 'because no provider of the host accepts '
                         'stream %s (e.g. C)' % STREAM in line])
        before = len(self._filter_log())

        self._live_migrate(self.server, 'completed')  # no host named

        self.assertEqual('B', self._host_of(self.server))
        devices = self._device_allocations(self.server)
        self.assertEqual(1, len(devices))
        (rp, resources), = devices.items()
        self.assertIn(rp, (self._rp('B', base.GPU0_RP),
                           self._rp('B', base.GPU1_RP)))
        self.assertEqual({'VGPU': 1}, resources)
        self.assert_mdev_usage(self.computes['B'], 1)
        self.assert_mdev_usage(self.computes['A'], 0)
        # One summary line for the request: B passed, C did not.
        (summary,) = self._filter_log()[before:]
        self.assertIn('1 of 2 hosts passed; rejected: 1 because no '
                      'provider of the host accepts stream %s (e.g. C)'
                      % STREAM, summary)

    def test_no_accepting_host_means_no_valid_host(self):
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        self._boot('A')
        source_rp = self._device_allocations(self.server)

        self._assert_no_valid_host()

        (source_rp,), = [list(source_rp)]
        source_name = self.placement.get(
            '/resource_providers/%s' % source_rp).body['name']
        expected = ('VFIOCompatFilter: live migration of instance %s from '
                    'A: 0 of 1 hosts passed; rejected: 1 because no '
                    'provider of the host accepts stream %s (e.g. C); no '
                    'allocation candidate pruned; streams: %s emitted by '
                    '%s (%s), accepted by 0 provider(s) of the 1 host(s) '
                    'asked about'
                    % (self.server['id'], STREAM, STREAM, source_name,
                       source_rp))
        # One line of the filter's own (Nova's "Filtering removed all
        # hosts" line also names the filter).
        self.assertEqual([expected], [
            line[line.index('VFIOCompatFilter: live'):]
            for line in self._filter_log()
            if 'VFIOCompatFilter: live' in line])

    def test_claim_lands_on_the_gpu_that_accepts(self):
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        # B's first GPU runs another major, its second accepts.
        self._start_host('B', gpu0=base.REFUSES_1_2, gpu1=base.ACCEPTS_1_2)
        self._boot('A')

        self._live_migrate(self.server, 'completed')

        self.assertEqual('B', self._host_of(self.server))
        accepting = self._rp('B', base.GPU1_RP)
        self.assertEqual({accepting: {'VGPU': 1}},
                         self._device_allocations(self.server))
        instance = objects.Instance.get_by_uuid(
            context.get_admin_context(), self.server['id'])
        # The driver created the mdev on that GPU (0000:81:01.0).
        self.assert_mdev_usage(self.computes['B'], 1, instance=instance,
                               expected_rp_name='B_' + base.GPU1_RP)
        self.assertTrue([line for line in self._filter_log()
                         if '1 of 1 hosts passed; rejected: none; 1 '
                         'allocation candidate(s) pruned on 1 host(s) '
                         '(e.g. B)' in line], self._filter_log())

    def _fill(self, host):
        """Other servers take every vGPU of ``host``'s GPUs."""
        full = {}
        for gpu in (base.GPU0_RP, base.GPU1_RP):
            rp = self._rp(host, gpu)
            full[rp] = {'resources': {'VGPU': self._get_provider_inventory(
                rp)['VGPU']['total']}}
        resp = self.placement.put('/allocations/%s' % uuids.other_servers, {
            'allocations': full, 'project_id': uuids.project,
            'user_id': uuids.user, 'consumer_generation': None},
            version='1.28')
        self.assertEqual(204, resp.status, resp.body)

    def _warnings(self, since=0):
        return [line for line in self._filter_log()[since:]
                if 'WARNING' in line]

    def test_accepting_hosts_beyond_the_candidates_get_a_warning(self):
        # C accepts A's stream but Placement leaves it out of the
        # candidates: here because its GPUs are full, in a large cloud
        # because it lies beyond [scheduler] max_placement_results.  A's
        # and B's two candidates each make four, the limit set here.
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('B', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        self._start_host('C', gpu0=base.ACCEPTS_1_2, gpu1=base.ACCEPTS_1_2)
        self._boot('A')
        self._fill('C')
        self.flags(max_placement_results=4, group='scheduler')

        self._assert_no_valid_host()

        (warning,) = self._warnings()
        self.assertIn('no host passed for the live migration of instance '
                      '%s, but 1 host(s) whose devices accept its streams '
                      'were not among the 4 allocation candidates '
                      'Placement returned for Nova\'s query'
                      % self.server['id'], warning)
        self.assertIn('[scheduler] max_placement_results = 4', warning)
        self.assertIn('[placement] randomize_allocation_candidates',
                      warning)

        # Far from the limit, a missing host is not a truncation.
        self.flags(max_placement_results=1000, group='scheduler')
        before = len(self._filter_log())
        self._assert_no_valid_host()
        self.assertEqual([], [line for line in self._filter_log()[before:]
                              if 'WARNING' in line])

    def test_candidates_of_hosts_earlier_filters_removed_are_counted(self):
        # Placement returns six candidates (A's, B's and D's two each:
        # the limit); ComputeFilter removes D (its service is down) before
        # this filter sees it, so only B's two are handed over.  C, which
        # accepts, is full: beyond the limit as far as Nova can tell.
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('B', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        self._start_host('C', gpu0=base.ACCEPTS_1_2, gpu1=base.ACCEPTS_1_2)
        self._start_host('D', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        self._boot('A')
        self._fill('C')
        self.api.put_service(self.computes['D'].service_ref.uuid,
                             {'forced_down': True})
        self.flags(max_placement_results=6, group='scheduler')

        self._assert_no_valid_host()

        (warning,) = self._warnings()
        self.assertIn('but 1 host(s) whose devices accept its streams were '
                      'not among the 6 allocation candidates Placement '
                      'returned', warning)
        self.assertIn('[scheduler] max_placement_results = 6', warning)

    def test_an_accepting_host_earlier_filters_removed_is_no_truncation(self):
        # C accepts and has room: it is among Placement's candidates, at
        # the limit, but ComputeFilter removes it.  Not a truncation.
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('B', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        self._start_host('C', gpu0=base.ACCEPTS_1_2, gpu1=base.ACCEPTS_1_2)
        self._boot('A')
        self.api.put_service(self.computes['C'].service_ref.uuid,
                             {'forced_down': True})
        self.flags(max_placement_results=6, group='scheduler')

        self._assert_no_valid_host()

        self.assertEqual([], self._warnings())
