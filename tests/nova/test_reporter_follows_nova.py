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

import os
import time

import fixtures
import nova.conf
from nova.tests.fixtures import libvirt as fakelibvirt
from oslo_config import cfg
import yaml

from nova_vfio_compat import conf as nvc_conf
from nova_vfio_compat.host import files
from nova_vfio_compat.host import published_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan
from nova_vfio_compat.reporter import service
from tests.nova import base
from tests.nova import test_mdev_types

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


TYPE_11 = test_mdev_types.TYPE_11
TYPE_12 = test_mdev_types.TYPE_12


class StagedTypeChangeTest(base.VFIOCompatTestBase):
    """A changed nova.conf that nova-compute has not loaded yet.

    Nova still uses the type it loaded, and so does what the reporter
    publishes.
    """

    def setUp(self):
        super().setUp()
        self.work = self.useFixture(fixtures.TempDir()).path
        self.nova_conf = os.path.join(self.work, 'nova.conf')
        self.documents = {}
        entries = []
        for mdev_type in (TYPE_11, TYPE_12):
            document = test_mdev_types.bare(mdev_type, 1, 2)
            path = os.path.join(self.work, '%s.yaml' % mdev_type)
            with open(path, 'w') as f:
                yaml.safe_dump(document, f)
            self.documents[mdev_type] = files.load_document(path)
            for address in (base.GPU0, base.GPU1):
                entries.append({'address': address, 'kind': 'mdev_type',
                                'mdev_type': mdev_type, 'document': path})
        self.device_list = os.path.join(self.work, 'devices.yaml')
        with open(self.device_list, 'w') as f:
            yaml.safe_dump({'devices': entries}, f)

    def _write_nova_conf(self, mdev_type):
        with open(self.nova_conf, 'w') as f:
            f.write('[devices]\nenabled_mdev_types = %s\n' % mdev_type)

    def _reporter_conf(self):
        conf = cfg.ConfigOpts()
        nvc_conf.register_all(conf)
        conf([], default_config_files=[])
        conf.set_override('device_list', self.device_list, group='reporter')
        conf.set_override('config_files', [self.nova_conf], group='nova')
        return conf

    def _owned(self, address):
        rp = self._get_provider_uuid_by_name(
            plan.mdev_parent_provider_name('A', address))
        return {t for t in self._get_provider_traits(rp)
                if traits.is_owned(t)}

    def _expected(self, mdev_type):
        return set(traits.document_traits(publication.typed_document(
            self.documents[mdev_type], mdev_type)[0])) | {
                traits.mdev_type_trait(mdev_type)}

    def test_a_staged_type_is_published_once_nova_compute_restarted(self):
        pci_info = fakelibvirt.HostPCIDevicesInfo(
            num_pci=0, num_pfs=0, num_vfs=0, num_mdevcap=2,
            multiple_gpu_types=True)
        self._write_nova_conf(TYPE_11)
        # nova-compute's process start: an in-process service has no
        # process of its own, so the test says when it (re)started.
        started = {}
        self.start_compute_with_vgpu('A', pci_info=pci_info)
        started['A'] = time.time()
        source, _ = published_devices.published_source(
            self._reporter_conf(), started=lambda: started['A'])
        reporter = base.sync.Reporter(self.sdk, 'A')
        svc = service.Service(reporter, source)

        self.assertTrue(svc.sync_once())
        self.assertEqual(self._expected(TYPE_11), self._owned(base.GPU0))

        # The operator stages nvidia-12; nova-compute still runs nvidia-11.
        time.sleep(0.05)
        self._write_nova_conf(TYPE_12)
        self.assertEqual([TYPE_11], self.computes['A'].driver
                         .supported_vgpu_types)
        self.assertTrue(svc.sync_once())
        self.assertEqual(self._expected(TYPE_11), self._owned(base.GPU0))
        self.assertEqual(self._expected(TYPE_11), self._owned(base.GPU1))

        # nova-compute restarts with it.
        self.flags(enabled_mdev_types=[TYPE_12], group='devices')
        self.restart_compute_service('A')
        started['A'] = time.time()
        self.assertEqual([TYPE_12], self.computes['A'].driver
                         .supported_vgpu_types)
        self.assertTrue(svc.sync_once())
        self.assertEqual(self._expected(TYPE_12), self._owned(base.GPU0))
        self.assertEqual(self._expected(TYPE_12), self._owned(base.GPU1))
