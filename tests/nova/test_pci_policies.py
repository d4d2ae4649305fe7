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


"""PCI devices the filter cannot read, and those it leaves alone.

* A flavor VF on a host without ``[pci] report_in_placement``: no
  provider, so nothing says which stream it emits.  ``strict`` refuses the
  server, ``check`` lets it go unchecked with a WARNING.
* A Neutron SR-IOV (``direct``) port: Nova unplugs its VF before the live
  migration and plugs a destination VF after it; no stream moves and the
  VF has no provider (it is tagged ``physical_network``).  ``check`` and
  ``strict`` leave it alone.
"""

from oslo_serialization import jsonutils

from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.api import client
from nova.tests.functional.libvirt import base as libvirt_base

from tests.nova import test_pci_pools as pools


class VFWithoutProviderTest(pools._VFPoolTestBase):
    PCI_IN_PLACEMENT = False
    REPORT_IN_PLACEMENT = False

    def _boot(self, policy):
        self.flags(default_policy=policy, group='vfio_compat_filter')
        for host in ('src', 'dst'):
            self._start(host)
        server = self._create_server(flavor_id=self.flavor,
                                     networks='none', host='src')
        self.assertEqual('0000:81:00.1', self._vf_of(server))
        # No PCI provider holds the server's VF.
        self.assertEqual([self.compute_rp_uuids['src']], list(
            self._get_allocations_by_server_uuid(server['id'])))
        return server

    def test_strict_refuses_a_vf_without_provider(self):
        server = self._boot('strict')
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, server, 'error')
        self.assertIn('NoValidHost', str(ex))
        self.assertEqual('src', self._host_of(
            self._wait_for_state_change(server, 'ACTIVE')))
        (line,) = [line for line in self.stdlog.logger.output.splitlines()
                   if 'cannot be live-migrated by the scheduler' in line]
        self.assertIn(
            'VFIOCompatFilter: instance %s cannot be live-migrated by the '
            'scheduler: flavor policy strict; its flavor PCI device(s) '
            '(alias vf) have no resource provider on src ([pci] '
            'report_in_placement is off there)' % server['id'], line)

    def test_check_lets_it_go_unchecked_with_a_warning(self):
        server = self._boot('check')
        self._live_migrate(server, 'completed')
        self.assertEqual('dst', self._host_of(server))
        (line,) = [line for line in self.stdlog.logger.output.splitlines()
                   if 'is not checked' in line]
        self.assertIn('WARNING', line)
        self.assertIn(
            'VFIOCompatFilter: the live migration of instance %s is not '
            'checked for the flavor PCI device(s) (alias vf) have no '
            'resource provider on src' % server['id'], line)


class DirectPortTest(pools._VFPoolTestBase):
    """A server with a Neutron direct port, under check and strict."""

    PCI_IN_PLACEMENT = True
    # The VFs of the port's physical network, as Neutron ports need them.
    PCI_DEVICE_SPEC_PORTS = [jsonutils.dumps({
        'vendor_id': fakelibvirt.PCI_VEND_ID,
        'product_id': fakelibvirt.VF_PROD_ID,
        'physical_network': 'physnet4'})]

    def setUp(self):
        super().setUp()
        self.neutron = self.useFixture(
            libvirt_base.LibvirtNeutronFixture(self))
        self.flags(device_detach_timeout=1, group='libvirt')

    def _start_port_host(self, host, bus):
        self.flags(device_spec=self.PCI_DEVICE_SPEC_PORTS, group='pci')
        self.start_compute(
            hostname=host,
            pci_info=fakelibvirt.HostPCIDevicesInfo(
                num_pfs=1, num_vfs=2, numa_node=0, bus=bus))

    def _migrate_with_policy(self, policy):
        self._start_port_host('src', 0x81)
        self._start_port_host('dst', 0x82)
        port = self.neutron.create_port(
            {'port': self.neutron.network_4_port_1})['port']
        flavor = self._create_flavor(
            vcpu=4, extra_spec={'vfio_compat:policy': policy})
        server = self._create_server(flavor_id=flavor,
                                     networks=[{'port': port['id']}],
                                     host='src')
        self.assertEqual('src', server['OS-EXT-SRV-ATTR:host'])
        self.assertIn('physnet4', self.neutron.show_port(port['id'])[
            'port']['binding:profile']['physical_network'])
        self._live_migrate(server, 'completed')
        self.assertEqual('dst', self._host_of(server))
        self.assertEqual([], [line for line in
                              self.stdlog.logger.output.splitlines()
                              if 'VFIOCompatFilter' in line and
                              ('WARNING' in line or 'rejected' in line)])

    def test_strict_leaves_a_direct_port_alone(self):
        self._migrate_with_policy('strict')

    def test_check_leaves_a_direct_port_alone(self):
        self._migrate_with_policy('check')
