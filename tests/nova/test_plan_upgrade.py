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

"""``plan-upgrade`` against a real Nova: each planned destination is
where Nova's scheduler (with VFIOCompatFilter) sends the server, wave
after wave, the hosts upgraded (republished) as the plan goes."""

from nova.tests.functional.api import client

from nova_vfio_compat.cmd import maintenance
from nova_vfio_compat.planning import assume
from nova_vfio_compat.planning import upgrade
from nova_vfio_compat.planning_reads import placement_view
from tests.nova import base

NEW = base.gpu_document(1, 3)        # accepts 1.0 - 1.3


class PlanUpgradeTest(base.VFIOCompatTestBase):

    def _plan(self, *hosts):
        view = placement_view.PlacementView(
            placement_view.sdk_get(self.sdk))
        return maintenance.plan_upgrade(
            view, [assume.Assumption(h, NEW) for h in hosts])

    def test_each_planned_destination_is_where_the_scheduler_sends_it(self):
        # A (1.2) and C (2.0) are upgraded to 1.3; B stays: its GPU1 (1.3)
        # takes A's 1.2 stream, its GPU0 (2.0) C's 2.0 stream, which no
        # upgraded device accepts.
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('B', gpu0=base.REFUSES_1_2, gpu1=base.ACCEPTS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        on_a = self._boot('A')
        on_c = self._boot('C')

        result = self._plan('A', 'C')

        self.assertEqual({'planned': 0, 'bound': 0, 'avoidable': 0},
                         result['downtime'])
        moves = 0
        for wave in result['waves']:
            for move in wave['moves']:
                server = {on_a['id']: on_a, on_c['id']: on_c}[
                    move['consumer']]
                (provider,) = move['destination']['providers']
                self._live_migrate(server, 'completed')    # no host named
                self.assertEqual(move['destination']['host'],
                                 self._host_of(server))
                self.assertEqual(
                    [self._get_provider_uuid_by_name(provider)],
                    list(self._device_allocations(server)))
                moves += 1
            # The wave's hosts are upgraded: the reporter publishes the
            # new documents.
            for host in wave['hosts']:
                self._publish(host['node'], {base.GPU0: base.published(NEW),
                                             base.GPU1: base.published(NEW)})
        self.assertEqual(2, moves)

    def test_forced_downtime_is_a_server_the_scheduler_cannot_move(self):
        # C (2.0) is upgraded to 1.3 and nothing else takes 2.0.
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        on_c = self._boot('C')

        result = self._plan('C')

        ((down,),) = [w['downtime'] for w in result['waves']]
        self.assertEqual((on_c['id'], upgrade.FORCED),
                         (down['consumer'], down['why']))
        self.assertEqual(1, result['downtime']['bound'])
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, on_c, 'error')
        self.assertIn('NoValidHost', str(ex))
        self.assertEqual('C', self._host_of(on_c))
