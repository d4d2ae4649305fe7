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

"""``nova-config``'s output applied to a host, and nova-compute restarted.

Nova cannot change the resource class of a provider where servers hold
allocations: the inventory update fails and nova-compute does not start.
``nova-config`` keeps the class Nova uses today unless told the host is
empty; these tests apply what it prints (the ``[devices]`` and
``[mdev_<type>]`` options) to a host running a vGPU server and restart
nova-compute in Nova's functional harness.
"""

import os
import tempfile

import nova.conf
from nova import exception
from oslo_config import cfg

from nova_vfio_compat.cmd import nova_config as nova_config_cmd
from nova_vfio_compat.host import compute_conf
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits
from tests.nova import base

CONF = cfg.CONF
HOST = 'host1'
GROUP = 'mdev_%s' % base.MDEV_TYPE


class BusyHostResourceClassTest(base.VFIOCompatTestBase):

    def setUp(self):
        super().setUp()
        nova.conf.devices.register_dynamic_opts(CONF)
        self._start_host(HOST, gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self.project_class = traits.resource_class(base.EMITS_1_2.emits)

    def _nova_config(self, host_empty=False):
        """What nova-config prints for this host, given its nova.conf."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'nova.conf')
            with open(path, 'w') as f:
                f.write('[devices]\nenabled_mdev_types = %s\n'
                        % base.MDEV_TYPE)
            nova = compute_conf.load([path])
        self.assertIsNone(nova.error)
        devices = [nvc_devices.Device(
            address=address, kind=nvc_devices.KIND_MDEV_TYPE,
            mdev_type=base.MDEV_TYPE, document=base.gpu_document(1, 2))
            for address in (base.GPU0, base.GPU1)]
        outcome = publication.decide(devices, mdev_config=nova.mdev_config)
        data, errors, notes, _ = nova_config_cmd.configuration(
            outcome, nova.mdev_config, host_empty=host_empty)
        self.assertEqual([], errors)
        return data, notes

    def _apply(self, data):
        self.flags(enabled_mdev_types=data['devices']['enabled_mdev_types'],
                   group='devices')
        self.flags(group=GROUP, **data[GROUP])

    def _gpu_inventory(self):
        return {name: self._get_provider_inventory(self._rp(HOST, rp))
                for name, rp in (('gpu0', base.GPU0_RP),
                                 ('gpu1', base.GPU1_RP))}

    def test_busy_host_keeps_its_class_and_restarts(self):
        server = self._boot(HOST)
        before = self._device_allocations(server)
        data, notes = self._nova_config()
        self.assertEqual('VGPU', data[GROUP]['mdev_class'])
        self.assertTrue(any('keeps resource class VGPU' in n and
                            'drain' in n and '--host-empty' in n
                            for n in notes), notes)
        self._apply(data)
        self.restart_compute_service(HOST)
        # It starts, keeps its server and the server's vGPU.
        self.assertEqual('up', self.api.get_services(
            binary='nova-compute', host=HOST)[0]['state'])
        self.assertEqual('ACTIVE', self.api.get_server(
            server['id'])['status'])
        self.assertEqual(before, self._device_allocations(server))
        for inventory in self._gpu_inventory().values():
            self.assertIn('VGPU', inventory)

    def test_changing_the_class_of_a_busy_host_stops_nova_compute(self):
        # The project's class, as nova-config printed it before: Nova
        # cannot move the server's allocation to it.
        server = self._boot(HOST)
        data, _ = self._nova_config(host_empty=True)
        self.assertEqual(self.project_class, data[GROUP]['mdev_class'])
        self._apply(data)
        # The resource tracker turns Placement's InventoryInUse into this,
        # "to prevent the compute service to start".
        error = self.assertRaises(exception.PlacementPciException,
                                  self.restart_compute_service, HOST)
        self.assertIn('conflict', str(error))
        self.assertIn('VGPU', self._device_allocations(server).popitem()[1])

    def test_an_empty_host_takes_the_projects_class(self):
        data, notes = self._nova_config(host_empty=True)
        self.assertTrue(any('replaces VGPU' in n for n in notes), notes)
        self._apply(data)
        self.restart_compute_service(HOST)
        for inventory in self._gpu_inventory().values():
            self.assertEqual([self.project_class], list(inventory))
