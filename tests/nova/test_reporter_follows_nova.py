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

"""The reporter against what a real nova-compute does with its GPUs."""

import nova.conf
from oslo_config import cfg

from nova_vfio_compat.reporter import plan
from nova_vfio_compat.reporter import service
from tests.nova import base

CONF = cfg.CONF


class GpuWithoutProviderTest(base.VFIOCompatTestBase):

    def test_a_gpu_past_max_instances_is_expected_not_retried(self):
        # fakelibvirt's GPUs have room for 16 nvidia-11 each; with
        # max_instances = 16 Nova gives the second GPU no provider.
        nova.conf.devices.register_dynamic_opts(CONF)
        self.flags(max_instances=16, group='mdev_%s' % base.MDEV_TYPE)
        self.start_compute_with_vgpu('A')
        names = {rp['name'] for rp in self._get_all_providers()}
        gpu1 = plan.mdev_parent_provider_name('A', base.GPU1)
        self.assertIn(plan.mdev_parent_provider_name('A', base.GPU0), names)
        self.assertNotIn(gpu1, names)

        reporter = base.sync.Reporter(self.sdk, 'A')
        devices = [base.nvc_devices.Device(
            address=address, kind=base.nvc_devices.KIND_MDEV_TYPE,
            mdev_type=base.MDEV_TYPE, document=base.EMITS_1_2)
            for address in (base.GPU0, base.GPU1)]
        svc = service.Service(reporter, lambda: devices)

        self.assertTrue(svc.sync_once())
        self.assertIsNone(svc.failure)
        self.assertEqual([gpu1], svc.last_result.absent)
        self.assertTrue(svc.last_result.ok, svc.last_result.errors)
