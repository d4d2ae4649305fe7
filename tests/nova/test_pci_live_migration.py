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


"""Live migration of a server with an SR-IOV VF (PCI in Placement).

Nova rewrites the traits of its own PCI providers, so the reporter hands
them to Nova as ``[pci] device_spec`` tags
(:func:`nova_vfio_compat.reporter.generated_config.pci_device_specs`); each
host here starts with the device_spec generated from its VF's document.
"""

import fixtures
from oslo_config import cfg
from oslo_serialization import jsonutils
from oslo_utils import versionutils

from nova.objects import fields
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.api import client
from nova.tests.functional.libvirt import test_pci_sriov_servers as pci
from nova.virt.libvirt import driver

from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.reporter import generated_config
from tests.nova import base

CONF = cfg.CONF
BUS = {'A': 0x81, 'B': 0x82, 'C': 0x83}


def vf_document(minor):
    """A VF firmware family 5.<minor>; it accepts minors 0..<minor>."""
    return records.loads(
        'device_api: vfio-pci\n'
        'vendor: igb_vfio_pci\n'
        'version: {major: 5, minor: %d}\n'
        'vfio-pci: {vendor: 0x%s, device: 0x%s,\n'
        '           subsystem_vendor: 0x8086, subsystem_device: 0x0001}\n'
        % (minor, fakelibvirt.PCI_VEND_ID, fakelibvirt.VF_PROD_ID),
        'test VF document 5.%d' % minor)


# The source runs firmware 5.3; B is newer, C older (streams go forward).
DOCUMENTS = {'A': vf_document(3), 'B': vf_document(4), 'C': vf_document(2)}
RC = nvc_traits.resource_class(DOCUMENTS['A'].emits)
STREAM = nvc_traits.emit_trait(DOCUMENTS['A'].emits)


class PCILiveMigrationTest(base.PatientWaits,
                           pci._PCIServersWithMigrationTestBase):
    ADMIN_API = True
    microversion = 'latest'
    PCI_DEVICE_SPEC = []        # per host, from the reporter; see _start
    PCI_ALIAS = [jsonutils.dumps({
        'name': 'vf', 'resource_class': RC,
        'device_type': fields.PciDeviceType.SRIOV_VF,
        'live_migratable': 'yes',
    })]

    def _setup_scheduler_service(self):
        self.flags(available_filters=[
            'nova.scheduler.filters.all_filters',
            'nova_vfio_compat.scheduler.VFIOCompatFilter'],
            group='filter_scheduler')
        self.ADDITIONAL_FILTERS = (list(self.ADDITIONAL_FILTERS) +
                                   ['VFIOCompatFilter'])
        return super()._setup_scheduler_service()

    def setUp(self):
        self.flags(report_in_placement=True, group='pci')
        self.flags(pci_in_placement=True, group='filter_scheduler')
        super().setUp()
        # An exact address in a device_spec makes Nova ask /sys whether it
        # is a PF; the fake host has no /sys (Nova's own PCI tests patch
        # this the same way).  These addresses are VFs: the true answer.
        self.useFixture(fixtures.MockPatch(
            'nova.pci.utils.is_physical_function', return_value=False))
        self.flavor = self._create_flavor(
            vcpu=4, extra_spec={'pci_passthrough:alias': 'vf:1'})

    def _start(self, host):
        bus = BUS[host]
        vf = nvc_devices.Device(
            address='0000:%02x:00.1' % bus, kind=nvc_devices.KIND_PCI,
            physfn='0000:%02x:00.0' % bus, document=DOCUMENTS[host],
            # a VF on a VFIO migration driver (no per-device gate):
            # live-migratable
            driver='qat_vfio_pci')
        specs, errors = generated_config.pci_device_specs([vf])
        self.assertEqual([], errors)
        # What the operator puts in this host's nova.conf.
        self.flags(device_spec=[jsonutils.dumps(s) for s in specs],
                   group='pci')
        self.start_compute(
            hostname=host,
            libvirt_version=versionutils.convert_version_to_int(
                driver.MIN_VFIO_PCI_VARIANT_LIBVIRT_VERSION),
            qemu_version=versionutils.convert_version_to_int(
                driver.MIN_VFIO_PCI_VARIANT_QEMU_VERSION),
            pci_info=fakelibvirt.HostPCIDevicesInfo(
                num_pfs=1, num_vfs=1, numa_node=0, bus=bus))

    def _pf_rp(self, host):
        return self._get_provider_uuid_by_name(
            '%s_0000:%02x:00.0' % (host, BUS[host]))

    def _host_of(self, server):
        return self.api.get_server(server['id'])['OS-EXT-SRV-ATTR:host']

    def test_vf_lands_on_the_host_that_accepts_the_stream(self):
        for host in ('A', 'B', 'C'):
            self._start(host)
        self.assertIn(STREAM, self._get_provider_traits(self._pf_rp('A')))
        server = self._create_server(flavor_id=self.flavor,
                                     networks='none', host='A')
        self._live_migrate(server, 'completed')
        self.assertEqual('B', self._host_of(server))
        allocations = self._get_allocations_by_server_uuid(server['id'])
        self.assertEqual({RC: 1}, allocations[self._pf_rp('B')]['resources'])
        self.assertIn('VFIOCompatFilter: live migration of instance %s '
                      'from A: 1 of 2 hosts passed; rejected: 1 because no '
                      'provider of the host accepts stream %s (e.g. C)'
                      % (server['id'], STREAM), self.stdlog.logger.output)

    def test_no_accepting_host_means_no_valid_host(self):
        for host in ('A', 'C'):
            self._start(host)
        server = self._create_server(flavor_id=self.flavor,
                                     networks='none', host='A')
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, server, 'error')
        self.assertIn('NoValidHost', str(ex))
        self.assertEqual('A', self._host_of(
            self._wait_for_state_change(server, 'ACTIVE')))
