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

"""``nova-config``'s output applied to a host whose server holds a VF.

With ``[pci] report_in_placement`` each PF is a Placement provider whose
inventory has the VFs' resource class; Nova cannot change that class
while a server holds one of its VFs, and nova-compute then does not
start. ``nova-config`` (run through its command line, reading the host's
nova.conf and device list, or reading the harness's Placement) keeps
the class the VF has today; the old advice, giving the VF the project's
class, stops nova-compute.
"""

import io
import json
import os
import tempfile

import fixtures
from oslo_serialization import jsonutils
from oslo_utils import versionutils

from nova import exception
from nova.objects import fields
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import test_pci_sriov_servers as pci
from nova.virt.libvirt import driver

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits as nvc_traits

HOST = 'host1'
VF = '0000:81:00.1'
PF = '0000:81:00.0'
# The class this host's VFs have before the project: set by the operator
# in nova.conf, used by the flavors' alias.
TODAY = 'CUSTOM_SRIOV_VF'
DOCUMENT = (
    'device_api: vfio-pci\n'
    'vendor: qat_vfio_pci\n'
    'version: {major: 5, minor: 3}\n'
    'vfio-pci: {vendor: 0x%s, device: 0x%s,\n'
    '           subsystem_vendor: 0x8086, subsystem_device: 0x0001}\n'
    % (fakelibvirt.PCI_VEND_ID, fakelibvirt.VF_PROD_ID))
PROJECT_CLASS = nvc_traits.resource_class(
    records.loads(DOCUMENT, 'test VF document').emits)
TODAY_SPEC = {'address': VF, 'resource_class': TODAY}


class BusyHostVFTest(pci._PCIServersWithMigrationTestBase):
    ADMIN_API = True
    microversion = 'latest'
    PCI_DEVICE_SPEC = []        # set once /sys is patched; see setUp
    PCI_ALIAS = [jsonutils.dumps({
        'name': 'vf', 'vendor_id': fakelibvirt.PCI_VEND_ID,
        'product_id': fakelibvirt.VF_PROD_ID, 'resource_class': TODAY,
        'device_type': fields.PciDeviceType.SRIOV_VF,
    })]

    def setUp(self):
        self.flags(report_in_placement=True, group='pci')
        super().setUp()
        # An exact address in a device_spec makes Nova ask /sys whether it
        # is a PF; the fake host has no /sys.  This one is a VF.
        self.useFixture(fixtures.MockPatch(
            'nova.pci.utils.is_physical_function', return_value=False))
        self.flags(device_spec=[jsonutils.dumps(TODAY_SPEC)], group='pci')
        self.flavor = self._create_flavor(
            vcpu=4, extra_spec={'pci_passthrough:alias': 'vf:1'})
        self.start_compute(
            hostname=HOST,
            libvirt_version=versionutils.convert_version_to_int(
                driver.MIN_VFIO_PCI_VARIANT_LIBVIRT_VERSION),
            qemu_version=versionutils.convert_version_to_int(
                driver.MIN_VFIO_PCI_VARIANT_QEMU_VERSION),
            pci_info=fakelibvirt.HostPCIDevicesInfo(
                num_pfs=1, num_vfs=1, numa_node=0, bus=0x81))
        self.pf_rp = self._get_provider_uuid_by_name('%s_%s' % (HOST, PF))
        self.server = self._create_server(flavor_id=self.flavor,
                                          networks='none', host=HOST)
        self.allocations = self._resources()
        self.assertEqual({TODAY: 1}, self.allocations[self.pf_rp])

    def _resources(self):
        return {rp: allocation['resources'] for rp, allocation in
                self._get_allocations_by_server_uuid(
                    self.server['id']).items()}

    def _nova_config(self, *options, placement=False, status=0):
        """``(--json output, stderr)`` of ``nova-config`` on this host.

        :param placement: give it this harness's Placement, as the
            reporter's [placement] options, and a nova.conf whose
            device_spec has no class: Placement alone decides.
        """
        tmp = self.useFixture(fixtures.TempDir()).path
        own = []
        if placement:
            with open(os.path.join(tmp, 'reporter.conf'), 'w') as f:
                f.write('[placement]\nauth_type = admin_token\n'
                        'endpoint = %s\ntoken = admin\n'
                        % self.placement_fixture.endpoint)
            own = ['--config-file', os.path.join(tmp, 'reporter.conf')]
        with open(os.path.join(tmp, 'vf.yaml'), 'w') as f:
            f.write(DOCUMENT)
        with open(os.path.join(tmp, 'devices.yaml'), 'w') as f:
            f.write("devices:\n"
                    "  - {address: '%s', kind: pci, physfn: '%s',\n"
                    "     driver: qat_vfio_pci, document: vf.yaml}\n"
                    % (VF, PF))
        # This host's nova.conf as nova-compute runs it.
        with open(os.path.join(tmp, 'nova.conf'), 'w') as f:
            f.write('[pci]\nreport_in_placement = true\n'
                    'device_spec = %s\n' % json.dumps(
                        {'address': VF} if placement else TODAY_SPEC))
        # What "virsh version" says on this host (Nova's minimums).
        with open(os.path.join(tmp, 'virsh-version'), 'w') as f:
            f.write('Using library: libvirt 10.0.0\n'
                    'Running hypervisor: QEMU 8.2.2\n')
        stdout = self.useFixture(fixtures.MonkeyPatch(
            'sys.stdout', io.StringIO())).new_value
        stderr = self.useFixture(fixtures.MonkeyPatch(
            'sys.stderr', io.StringIO())).new_value
        with tempfile.TemporaryDirectory() as empty:
            # No configuration file of the project's but these options.
            got = cli.main(
                ['--config-dir', empty] + own + [
                    'nova-config', '--json', '--nodename', HOST,
                    '--device-list', os.path.join(tmp, 'devices.yaml'),
                    '--nova-config', os.path.join(tmp, 'nova.conf'),
                    '--virsh-version', os.path.join(tmp, 'virsh-version')]
                + list(options))
        self.assertEqual(status, got, stderr.getvalue())
        return json.loads(stdout.getvalue()), stderr.getvalue()

    def _apply(self, config):
        """The printed device_spec in place of the host's, and restart."""
        self.flags(device_spec=[jsonutils.dumps(s) for s in
                                config['pci']['device_spec']], group='pci')
        self.restart_compute_service(HOST)

    def test_busy_host_keeps_the_vfs_class_and_restarts(self):
        result, err = self._nova_config()
        self.assertIsNone(result['placement'])
        config = result['config']
        (spec,) = config['pci']['device_spec']
        self.assertEqual(TODAY, spec['resource_class'])
        self.assertIn('keeps resource class %s' % TODAY, err)
        self._apply(config)
        # It starts, keeps its server, the server's VF and its allocation.
        self.assertEqual('up', self.api.get_services(
            binary='nova-compute', host=HOST)[0]['state'])
        self.assertEqual('ACTIVE', self.api.get_server(
            self.server['id'])['status'])
        self.assertEqual(self.allocations, self._resources())
        self.assertIn(TODAY, self._get_provider_inventory(self.pf_rp))

    def test_giving_the_vf_the_projects_class_stops_nova_compute(self):
        # The advice as it was: the VF's resource_class becomes the
        # project's (what nova-config prints for an empty host).
        config, err = self._nova_config('--host-empty')
        config = config['config']
        (spec,) = config['pci']['device_spec']
        self.assertEqual(PROJECT_CLASS, spec['resource_class'])
        self.assertIn('replaces %s' % TODAY, err)
        # Nova's PCI reshape moves the server's allocation to the new
        # class; Placement refuses (the old class's inventory is in use)
        # and nova-compute stops at start.
        error = self.assertRaises(exception.ReshapeFailed,
                                  self._apply, config)
        self.assertIn("Inventory for '%s'" % TODAY, str(error))
        self.assertIn('in use', str(error))
        self.assertEqual(self.allocations, self._resources())

    def test_placement_says_the_vf_is_held_and_it_restarts(self):
        result, err = self._nova_config(placement=True)
        held = result['placement'][VF]
        self.assertEqual({'provider': '%s_%s' % (HOST, PF.upper()),
                          'held': True, 'resource_class': TODAY,
                          'used': {TODAY: 1}}, held)
        self.assertIn('held: provider %s_%s (1 of 1 %s used)'
                      % (HOST, PF.upper(), TODAY), err)
        self._apply(result['config'])
        self.assertEqual('up', self.api.get_services(
            binary='nova-compute', host=HOST)[0]['state'])
        self.assertEqual(self.allocations, self._resources())

    def test_placement_overrides_host_empty(self):
        result, err = self._nova_config('--host-empty', placement=True,
                                        status=2)
        (spec,) = result['config']['pci']['device_spec']
        self.assertEqual(TODAY, spec['resource_class'])
        self.assertIn('--host-empty: Placement says %s is in use' % VF, err)
        self._apply(result['config'])
        self.assertEqual(self.allocations, self._resources())
