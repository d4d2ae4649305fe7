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


"""VFs under both ``[filter_scheduler] pci_in_placement`` settings.

The source VF runs firmware 5.3.  Destination ``dst`` has two PFs with
one VF each: PF 0 on firmware 5.2 (refuses the 5.3 stream), PF 1 on 5.4
(accepts it).  Nova's VF pools are split per PF, each PF is a Placement
provider ([pci] report_in_placement), and the device_spec of each VF is
the one the reporter generates from its document.

* pci_in_placement = False (Nova's default): Nova claims any VF of a
  matching pool, whatever allocation candidate the filter kept, so ``dst``
  must not pass: a VF of PF 0 may be claimed.
* pci_in_placement = True: Nova claims the VF of the provider Placement
  allocated, so ``dst`` passes with its candidates pruned to PF 1.
"""

import fixtures
from oslo_serialization import jsonutils
from oslo_utils import versionutils

from nova import context
from nova.filters import BaseFilter
from nova import objects
from nova.objects import fields
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.api import client
from nova.tests.functional.libvirt import test_pci_sriov_servers as pci
from nova.virt.libvirt import driver

from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.reporter import generated_config
from tests.nova import base
from tests.nova import test_pci_live_migration as pci_lm

SOURCE = pci_lm.vf_document(3)
RC = nvc_traits.resource_class(SOURCE.emits)
STREAM = nvc_traits.emit_trait(SOURCE.emits)
# host: (bus, [firmware minor of the VF of each PF])
HOSTS = {'src': (0x81, [3]), 'dst': (0x82, [2, 4]), 'ok': (0x83, [4, 3])}


class _VFPoolTestBase(base.PatientWaits,
                      pci._PCIServersWithMigrationTestBase):
    ADMIN_API = True
    microversion = 'latest'
    PCI_DEVICE_SPEC = []        # per host, from the reporter; see _start
    # vendor and product: Nova needs them without pci_in_placement.
    PCI_ALIAS = [jsonutils.dumps({
        'name': 'vf', 'vendor_id': fakelibvirt.PCI_VEND_ID,
        'product_id': fakelibvirt.VF_PROD_ID, 'resource_class': RC,
        'device_type': fields.PciDeviceType.SRIOV_VF,
        'live_migratable': 'yes',
    })]
    PCI_IN_PLACEMENT = None
    REPORT_IN_PLACEMENT = True

    def _setup_scheduler_service(self):
        self.flags(available_filters=[
            'nova.scheduler.filters.all_filters',
            'nova_vfio_compat.scheduler.VFIOCompatFilter'],
            group='filter_scheduler')
        self.ADDITIONAL_FILTERS = (list(self.ADDITIONAL_FILTERS) +
                                   ['VFIOCompatFilter'])
        return super()._setup_scheduler_service()

    def setUp(self):
        self.flags(report_in_placement=self.REPORT_IN_PLACEMENT, group='pci')
        self.flags(pci_in_placement=self.PCI_IN_PLACEMENT,
                   group='filter_scheduler')
        super().setUp()
        # Exact addresses in a device_spec make Nova ask /sys whether they
        # are PFs; the fake host has no /sys.  These are VFs.
        self.useFixture(fixtures.MockPatch(
            'nova.pci.utils.is_physical_function', return_value=False))
        self.flavor = self._create_flavor(
            vcpu=4, extra_spec={'pci_passthrough:alias': 'vf:1'})

    def _start(self, host):
        bus, minors = HOSTS[host]
        # VFs on a VFIO migration driver with no per-device gate: Nova's
        # alias asks for live_migratable devices.
        vfs = [nvc_devices.Device(
            address='0000:%02x:%02x.1' % (bus, slot),
            kind=nvc_devices.KIND_PCI,
            physfn='0000:%02x:%02x.0' % (bus, slot),
            document=pci_lm.vf_document(minor), driver='qat_vfio_pci')
            for slot, minor in enumerate(minors)]
        specs, errors = generated_config.pci_device_specs(vfs)
        self.assertEqual([], errors)
        self.flags(device_spec=[jsonutils.dumps(s) for s in specs],
                   group='pci')
        self.start_compute(
            hostname=host,
            libvirt_version=versionutils.convert_version_to_int(
                driver.MIN_VFIO_PCI_VARIANT_LIBVIRT_VERSION),
            qemu_version=versionutils.convert_version_to_int(
                driver.MIN_VFIO_PCI_VARIANT_QEMU_VERSION),
            pci_info=fakelibvirt.HostPCIDevicesInfo(
                num_pfs=len(minors), num_vfs=len(minors), numa_node=0,
                bus=bus))

    def _pf_rp(self, host, slot):
        return self._get_provider_uuid_by_name(
            '%s_0000:%02x:%02x.0' % (host, HOSTS[host][0], slot))

    def _host_of(self, server):
        return self.api.get_server(server['id'])['OS-EXT-SRV-ATTR:host']

    def _vf_of(self, server):
        (device,) = objects.PciDeviceList.get_by_instance_uuid(
            context.get_admin_context(), server['id'])
        return device.address

    def _boot_on_src(self):
        server = self._create_server(flavor_id=self.flavor,
                                     networks='none', host='src')
        self.assertEqual('0000:81:00.1', self._vf_of(server))
        # The source device the filter reads: the VF's PF provider holds
        # the server's allocation (healed by nova-compute without
        # pci_in_placement).
        self.assertEqual(
            {RC: 1}, self._get_allocations_by_server_uuid(
                server['id'])[self._pf_rp('src', 0)]['resources'])
        return server


class WithoutPciInPlacementTest(_VFPoolTestBase):
    PCI_IN_PLACEMENT = False
    # filter_all() logs one summary per request; host_passes() cannot.
    SUMMARY = True

    def test_refusing_pool_fails_the_host_accepting_pools_pass(self):
        # One cloud for both (a Nova cloud per test is most of a test's
        # CPU time): dst alone is refused, then ok, added, passes.
        for host in ('src', 'dst'):
            self._start(host)
        server = self._boot_on_src()
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, server, 'error')
        self.assertIn('NoValidHost', str(ex))
        self.assertEqual('src', self._host_of(
            self._wait_for_state_change(server, 'ACTIVE')))
        if self.SUMMARY:
            self.assertIn(
                'VFIOCompatFilter: live migration of instance %s from src: '
                '0 of 1 hosts passed; rejected: 1 because a PCI device pool '
                'Nova may claim from does not accept the streams (without '
                '[filter_scheduler] pci_in_placement Nova claims any device '
                'of a matching pool) (e.g. dst)' % server['id'],
                self.stdlog.logger.output)

        self._start('ok')
        self._live_migrate(server, 'completed')
        self.assertEqual('ok', self._host_of(server))
        self.assertIn(self._vf_of(server), ('0000:83:00.1', '0000:83:01.1'))


class WithoutPciInPlacementPerHostTest(WithoutPciInPlacementTest):
    """The same through host_passes(), Nova's plain per-host path."""

    SUMMARY = False

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MonkeyPatch(
            'nova_vfio_compat.scheduler.vfio_compat_filter.'
            'VFIOCompatFilter.filter_all', BaseFilter.filter_all))


class WithPciInPlacementTest(_VFPoolTestBase):
    PCI_IN_PLACEMENT = True

    def test_claim_lands_on_the_accepting_vf(self):
        for host in ('src', 'dst'):
            self._start(host)
        server = self._boot_on_src()
        self._live_migrate(server, 'completed')
        self.assertEqual('dst', self._host_of(server))
        self.assertEqual('0000:82:01.1', self._vf_of(server))
        allocations = self._get_allocations_by_server_uuid(server['id'])
        self.assertEqual({RC: 1},
                         allocations[self._pf_rp('dst', 1)]['resources'])
        self.assertNotIn(self._pf_rp('dst', 0), allocations)
