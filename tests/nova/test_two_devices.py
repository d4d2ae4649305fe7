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


"""Live migration of a server that owns two VFs (PCI in Placement).

The server holds two VFs of one family (one resource class) that run
different firmware minors, so they send different streams: 5.3 and 5.1.
Nova may give either destination VF either source VF, so every device a
destination candidate offers must accept both streams, and a host passes
only when its devices accept every source device's streams, not some.
"""

from oslo_serialization import jsonutils

from nova.objects import fields
from nova.tests.functional.api import client

from nova_vfio_compat.model import traits as nvc_traits
from tests.nova import test_pci_live_migration as pci_lm
from tests.nova import test_pci_pools as pools

RC = nvc_traits.resource_class(pci_lm.vf_document(3).emits)
STREAMS = {minor: nvc_traits.emit_trait(pci_lm.vf_document(minor).emits)
           for minor in (1, 3)}
# host: (bus, [firmware minor of the VF of each PF])
HOSTS = {
    'src': (0x81, [3, 1]),
    # Both VFs accept 5.0-5.2: the 5.1 stream, not the 5.3 one.
    'some': (0x82, [2, 2]),
    # Both accept 5.0-5.4: both streams.
    'ok': (0x83, [4, 4]),
    # Its tree accepts both streams (the 5.4 VF), but its only
    # candidate also gives the server the 5.2 VF.
    'mixed': (0x84, [4, 2]),
}


class TwoVFsTest(pools._VFPoolTestBase):
    PCI_IN_PLACEMENT = True
    PCI_ALIAS = [jsonutils.dumps({
        'name': 'vf', 'resource_class': RC,
        'device_type': fields.PciDeviceType.SRIOV_VF,
        'live_migratable': 'yes',
    })]

    def setUp(self):
        super().setUp()
        self.flavor = self._create_flavor(
            vcpu=4, extra_spec={'pci_passthrough:alias': 'vf:2'})

    def _start(self, host):
        self.useFixture(pools.fixtures.MonkeyPatch(
            'tests.nova.test_pci_pools.HOSTS', HOSTS))
        super()._start(host)

    def _boot_two_on_src(self):
        server = self._create_server(flavor_id=self.flavor,
                                     networks='none', host='src')
        allocations = self._get_allocations_by_server_uuid(server['id'])
        for slot in (0, 1):
            self.assertEqual({RC: 1}, allocations[self._pf_rp(
                'src', slot)]['resources'])
        # The two source providers send the two streams.
        for slot, minor in ((0, 3), (1, 1)):
            self.assertIn(STREAMS[minor], self._get_provider_traits(
                self._pf_rp('src', slot)))
        return server

    def _refused(self, server, host):
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, server, 'error',
                               host=host)
        self.assertIn('NoValidHost', str(ex))
        self.assertEqual('src', self._host_of(
            self._wait_for_state_change(server, 'ACTIVE')))

    def test_a_host_must_accept_every_device_not_some(self):
        for host in ('src', 'some', 'ok'):
            self._start(host)
        server = self._boot_two_on_src()

        # 'some' accepts the 5.1 VF's stream, not the 5.3 one.
        self._refused(server, 'some')
        self.assertIn(
            'VFIOCompatFilter: live migration of instance %s from src: '
            '0 of 1 hosts passed; rejected: 1 because no provider of the '
            'host accepts stream %s (e.g. some)'
            % (server['id'], STREAMS[3]), self.stdlog.logger.output)

        self._live_migrate(server, 'completed')
        self.assertEqual('ok', self._host_of(server))
        allocations = self._get_allocations_by_server_uuid(server['id'])
        self.assertEqual({RC: 1}, allocations[self._pf_rp(
            'ok', 0)]['resources'])
        self.assertEqual({RC: 1}, allocations[self._pf_rp(
            'ok', 1)]['resources'])

    def test_every_device_of_a_candidate_must_accept_every_stream(self):
        for host in ('src', 'mixed'):
            self._start(host)
        server = self._boot_two_on_src()

        # The 5.2 VF refuses the 5.3 stream, whichever source VF it gets;
        # the 5.4 VF accepting does not make up for it.
        self._refused(server, 'mixed')
        self.assertIn(
            'VFIOCompatFilter: live migration of instance %s from src: '
            '0 of 1 hosts passed; rejected: 1 because no allocation '
            'candidate of the host has devices that accept the streams '
            '(e.g. mixed)' % server['id'], self.stdlog.logger.output)
