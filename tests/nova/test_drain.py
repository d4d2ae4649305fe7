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

from unittest import mock

from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from nova.tests.functional.api import client
from openstack import connection

from nova_vfio_compat.planning import drain
from nova_vfio_compat.planning import report
from nova_vfio_compat.planning_reads import placement_view
from nova_vfio_compat.planning_reads import server_names
from tests.nova import base


class _ByNode(dict):
    """The harness's computes by service host, also found by node."""

    def __init__(self, computes):
        super().__init__(computes)
        self.nodes = {}

    def __missing__(self, key):
        if key in self.nodes:
            return self[self.nodes[key]]
        raise KeyError(key)


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

    def _disable(self, host):
        """Disable the compute service of ``host``.

        Nova then puts COMPUTE_STATUS_DISABLED on its root provider.
        """
        self.admin_api.microversion = '2.53'
        service = self.admin_api.get_services(host=host,
                                              binary='nova-compute')[0]
        self.admin_api.put_service(service['id'], {'status': 'disabled'})
        root = self._get_provider_uuid_by_name(host)
        self.assertIn('COMPUTE_STATUS_DISABLED', self._get_provider_traits(
            root))

    def test_a_disabled_host_is_no_destination(self):
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('B', gpu0=base.REFUSES_1_2, gpu1=base.ACCEPTS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        server = self._boot('A')
        self._disable('B')

        inputs, plan, stranded = self._pre_flight('A')

        self.assertEqual({}, plan.assignments)
        self.assertIn(server['id'], stranded)
        self.assertEqual(['B'], inputs.disabled)
        result = report.drain(inputs, inputs.servers, plan, stranded, {})
        self.assertEqual([{'host': 'B', 'node': 'B'}], result['disabled'])
        self.assertEqual(list(drain.NOT_CHECKED), result['not_checked'])
        # What Nova's scheduler does with it.
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, self.server, 'error')
        self.assertIn('NoValidHost', str(ex))
        self.assertEqual('A', self._host_of(self.server))

    def _start_named(self, host, node, **documents):
        """A compute whose service host is ``host`` and node ``node``.

        libvirt names the node after the machine's hostname, Nova's
        service after ``[DEFAULT] host``; Placement names the root
        provider (and the GPUs' providers) after the node.
        """
        get_connection = self._get_connection
        placement_get = self.placement.get

        def connection(*args):
            return get_connection(*(args[:-1] + (node,)))

        def by_node(url, *args, **kwargs):
            return placement_get(url.replace('name=%s' % host,
                                             'name=%s' % node),
                                 *args, **kwargs)

        with mock.patch.object(self, '_get_connection', connection), \
                mock.patch.object(self.placement, 'get', by_node):
            self.start_compute_with_vgpu(host)
        # The harness's fake mdev creation finds the compute by the
        # driver's hostname, the node.
        if not isinstance(self.computes, _ByNode):
            self.computes = _ByNode(self.computes)
        self.computes.nodes[node] = host
        self._publish(node, {base.GPU0: documents.get('gpu0'),
                             base.GPU1: documents.get('gpu1')})

    def test_hosts_are_named_by_their_service_host(self):
        self._start_named('A', 'a.nodes.example', gpu0=base.EMITS_1_2,
                          gpu1=base.EMITS_1_2)
        self._start_named('B', 'b.nodes.example', gpu0=base.ACCEPTS_1_2,
                          gpu1=base.ACCEPTS_1_2)
        server = self._boot('A')
        nova = self._nova()

        inputs, plan, stranded = self._pre_flight('a.nodes.example')
        hosts = server_names.service_hosts(nova)
        names = server_names.lookup(nova, hosts['a.nodes.example'],
                                    [server['id']])
        result = report.drain(inputs, inputs.servers, plan, stranded,
                              names, hosts=hosts)

        self.assertEqual(('A', 'a.nodes.example', 'service'), (
            result['host'], result['node'], result['host_names']))
        (entry,) = result['servers']
        self.assertEqual(server['id'], entry['consumer'])
        self.assertEqual({server['id']: server['name']}, names)
        self.assertEqual(('B', 'b.nodes.example'), (
            entry['plan']['host'], entry['plan']['node']))
        # The host the plan names is the one a live migration takes.
        self._live_migrate(self.server, 'completed',
                           host=entry['plan']['host'])
        self.assertEqual('B', self._host_of(self.server))
