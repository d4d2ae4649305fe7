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


"""What the filter counts as a live migration and as the server's devices.

A vGPU server on A; C's GPUs refuse A's stream, so a checked live
migration cannot go there, and any move that is not one must.
"""

import time

from nova import context
from nova import objects
from nova.tests.functional.api import client

from tests.nova import base


class _OnAWithOnlyCLeft(base.VFIOCompatTestBase):

    def setUp(self):
        super().setUp()
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)

    def _ok(self, response):
        self.assertIn(response.status, (200, 201, 204), response.body)
        return response.body

    def _add_allocation(self, consumer, rp_uuid, resources):
        """Add ``resources`` on ``rp_uuid`` to ``consumer``'s allocations.

        What Neutron (a QoS port's bandwidth) or a dead conductor (a
        migration holding source allocations) would have left in
        Placement.
        """
        current = self._ok(self.placement.get(
            '/allocations/%s' % consumer, version='1.28'))
        allocations = {rp: {'resources': a['resources']}
                       for rp, a in current['allocations'].items()}
        allocations[rp_uuid] = {'resources': resources}
        server = self.api.get_server(self.server['id'])
        self._ok(self.placement.put('/allocations/%s' % consumer, {
            'allocations': allocations,
            'project_id': current.get('project_id', server['tenant_id']),
            'user_id': current.get('user_id', server['user_id']),
            'consumer_generation': current.get('consumer_generation')},
            version='1.28'))

    def _provider(self, name, parent=None, inventory=None, traits=()):
        body = {'name': name}
        if parent:
            body['parent_provider_uuid'] = parent
        rp = self._ok(self.placement.post('/resource_providers', body,
                                          version='1.20'))
        if inventory:
            self._ok(self.placement.put(
                '/resource_providers/%s/inventories' % rp['uuid'],
                {'inventories': inventory,
                 'resource_provider_generation': rp['generation']},
                version='1.6'))
        if traits:
            generation = self._ok(self.placement.get(
                '/resource_providers/%s' % rp['uuid'],
                version='1.20'))['generation']
            self._ok(self.placement.put(
                '/resource_providers/%s/traits' % rp['uuid'],
                {'traits': list(traits),
                 'resource_provider_generation': generation},
                version='1.6'))
        return rp['uuid']

    def _stale_live_migration(self):
        """An accepted live-migration record a dead conductor left behind.

        Its consumer still holds a copy of the server's vGPU on A, as if
        the conductor had moved the source allocations and died.
        """
        server = self.api.get_server(self.server['id'])
        ctxt = context.get_admin_context()
        with context.target_cell(ctxt, self.cell_mappings['cell1']) as cctxt:
            migration = objects.Migration(
                context=cctxt, instance_uuid=self.server['id'],
                project_id=server['tenant_id'], user_id=server['user_id'],
                migration_type='live-migration', status='accepted',
                source_compute='A', source_node='A',
                old_instance_type_id=1, new_instance_type_id=1)
            migration.create()
        (gpu,) = self._device_allocations(self.server)
        self._add_allocation(migration.uuid, gpu, {'VGPU': 1})
        return migration


class NonDeviceProvidersTest(_OnAWithOnlyCLeft):
    """Bandwidth and shared storage are not devices, even under strict."""

    def test_strict_server_with_bandwidth_and_shared_storage_migrates(self):
        self._start_host('B', gpu0=base.ACCEPTS_1_2, gpu1=base.ACCEPTS_1_2)
        self._boot('A', flavor=self._vgpu_flavor(
            **{'vfio_compat:policy': 'strict'}))
        # A Neutron agent's bandwidth provider in A's tree, and a sharing
        # storage provider outside it; neither has capability traits.
        bandwidth = self._provider(
            'A:Open vSwitch agent:br-ex',
            parent=self.compute_rp_uuids['A'],
            inventory={'NET_BW_EGR_KILOBIT_PER_SEC': {'total': 10000}})
        storage = self._provider(
            'shared-storage', inventory={'DISK_GB': {'total': 1000}},
            traits=['MISC_SHARES_VIA_AGGREGATE'])
        self._add_allocation(self.server['id'], bandwidth,
                             {'NET_BW_EGR_KILOBIT_PER_SEC': 1000})
        self._add_allocation(self.server['id'], storage, {'DISK_GB': 1})

        self._live_migrate(self.server, 'completed')

        self.assertEqual('B', self._host_of(self.server))
        log = '\n'.join(self._filter_log())
        self.assertNotIn('have no capability traits', log)
        self.assertIn('1 of 2 hosts passed', log)
        # C was checked, and refused for the vGPU's stream alone.
        self.assertIn('(e.g. C)', log)

    def test_strict_still_refuses_an_undescribed_device(self):
        # D's GPUs are not described: strict refuses the server for its
        # vGPU, and names the GPU, not the bandwidth provider.
        self._start_host('D')
        self._boot('D', flavor=self._vgpu_flavor(
            **{'vfio_compat:policy': 'strict'}))
        (gpu,) = self._device_allocations(self.server)
        bandwidth = self._provider(
            'D:Open vSwitch agent:br-ex',
            parent=self.compute_rp_uuids['D'],
            inventory={'NET_BW_EGR_KILOBIT_PER_SEC': {'total': 10000}})
        self._add_allocation(self.server['id'], bandwidth,
                             {'NET_BW_EGR_KILOBIT_PER_SEC': 1000})
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, self.server, 'error')
        self.assertIn('NoValidHost', str(ex))
        (warning,) = [line for line in self._filter_log()
                      if 'WARNING' in line]
        self.assertIn('have no capability traits', warning)
        self.assertIn(gpu, warning)
        self.assertNotIn('Open vSwitch', warning)


class StaleRecordTest(_OnAWithOnlyCLeft):
    """An accepted live-migration record alone is not a live migration.

    Nor is an evacuation, whose record is accepted too.
    """

    def _evacuation(self):
        for _ in range(100):
            migrations = self.api.api_get(
                '/os-migrations?instance_uuid=%s' % self.server['id']
            ).body['migrations']
            for migration in migrations:
                if migration['migration_type'] == 'evacuation' and \
                        migration['status'] in ('done', 'failed', 'error'):
                    return migration
            time.sleep(0.1)
        self.fail('no finished evacuation: %s' % migrations)

    def test_cold_migration_is_not_checked(self):
        self._boot('A')
        self._stale_live_migration()
        self._migrate_server(self.server)
        self._confirm_resize(self.server)
        self.assertEqual('C', self._host_of(self.server))
        self.assertEqual([], self._filter_log())

    def test_evacuation_is_not_checked(self):
        # Its Migration is accepted too, with type evacuation.  (With a
        # stale live-migration record beside it, Nova's own rebuild picks
        # the wrong record: the cold migration above covers stale ones.)
        self._boot('A')
        self.computes['A'].stop()
        service = self.api.get_services(host='A', binary='nova-compute')[0]
        self.api.put_service(service['id'], {'forced_down': 'true'})

        # The scheduler picks C.  Nova's libvirt driver then cannot
        # rebuild a vGPU server there (during an evacuation the server
        # holds both hosts' VGPU allocations and _allocate_mdevs looks up
        # A's GPU provider among C's), which is Nova's, after the
        # scheduling this test is about.
        try:
            self.api.post_server_action(self.server['id'], {'evacuate': {}})
        except client.OpenStackApiException as e:
            self.assertIn('BuildAbortException', str(e))
        evacuation = self._evacuation()
        self.assertIn(evacuation['status'], ('done', 'failed'))
        self.assertEqual('C', evacuation['dest_compute'])
        self.assertEqual([], self._filter_log())
