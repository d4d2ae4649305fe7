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

"""The drain pre-flight against a real Nova: what it predicts is what
Nova's scheduler (with VFIOCompatFilter) then does, and the server names
come from Nova's API."""

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from nova.tests.functional.api import client
from openstack import connection

from nova_vfio_compat.planning import drain
from nova_vfio_compat.planning import placement_view
from nova_vfio_compat.planning import server_names
from tests.nova import base


class DrainTest(base.VFIOCompatTestBase):

    def _pre_flight(self, host):
        view = placement_view.PlacementView(
            placement_view.sdk_get(self.sdk))
        inputs = placement_view.read_drain(view, host)
        plan, stranded = drain.plan_and_explain(
            inputs.servers, inputs.options, inputs.free, inputs.acceptors,
            inputs.names)
        return inputs, plan, stranded

    def _nova(self):
        """A connection to Nova's API with the admin's credentials.

        The harness stands in for keystone with the X-Auth-* and X-Roles
        headers its own API client sends.
        """
        api = self.api_fixture.admin_api
        sess = ks_session.Session(
            auth=token_endpoint.Token(api.base_url, 'admin'),
            additional_headers={'X-Auth-User': 'admin',
                                'X-Auth-Project-Id': api.project_id,
                                'X-Roles': 'reader,member,admin'})
        return connection.Connection(session=sess)

    def test_the_plan_is_where_the_scheduler_sends_the_server(self):
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('B', gpu0=base.REFUSES_1_2, gpu1=base.ACCEPTS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        server = self._boot('A')
        accepting = self._rp('B', base.GPU1_RP)

        inputs, plan, stranded = self._pre_flight('A')

        self.assertEqual({}, stranded)
        self.assertEqual([server['id']],
                         [s.consumer for s in inputs.servers])
        option = plan.assignments[server['id']]
        self.assertEqual(('B', (accepting,)), (option.host, option.providers))
        self.assertEqual({server['id']: server['name']}, server_names.lookup(
            self._nova(), 'A', [server['id']]))

        self._live_migrate(self.server, 'completed')  # no host named

        self.assertEqual('B', self._host_of(self.server))
        self.assertEqual([accepting],
                         list(self._device_allocations(self.server)))

    def test_a_stranded_server_is_one_the_scheduler_cannot_move(self):
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('B', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        server = self._boot('A')

        _, plan, stranded = self._pre_flight('A')

        self.assertEqual({}, plan.assignments)
        self.assertEqual(drain.INCOMPATIBLE, stranded[server['id']].why)
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, self.server, 'error')
        self.assertIn('NoValidHost', str(ex))
        self.assertEqual('A', self._host_of(self.server))
