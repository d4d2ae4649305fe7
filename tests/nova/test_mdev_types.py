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

"""Live migrations of vGPU servers whose GPUs expose two mdev types.

fakelibvirt's GPUs (``multiple_gpu_types``) offer nvidia-11 and nvidia-12;
Nova enables nvidia-11 only, so every GPU uses nvidia-11.  The devices are
published the way the reporter service does it: a device list with a
document per (GPU, type), Nova's configuration read from a nova.conf file
(``[nova] config_files``), :func:`published_devices.published_source`, then
:class:`sync.Reporter`.
"""

import fixtures
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.api import client
from oslo_config import cfg
import yaml

from nova_vfio_compat import conf as nvc_conf
from nova_vfio_compat.host import published_devices
from nova_vfio_compat.reporter import sync
from tests.nova import base

TYPE_11 = fakelibvirt.NVIDIA_11_VGPU_TYPE     # enabled in Nova
TYPE_12 = fakelibvirt.NVIDIA_12_VGPU_TYPE     # offered, not enabled
# One guest-visible identity per type (the vGPU profiles differ).
SUBSYSTEM = {TYPE_11: 0x12a2, TYPE_12: 0x12a3}
AGGREGATED = 0x0003


def record(mdev_type, major, minor, subsystem=None, attrs=None):
    out = {'device_api': 'vfio-pci', 'vendor': 'nvidia',
           'version': {'major': major, 'minor': minor},
           'vfio-pci': {'vendor': 0x10de, 'device': 0x1eb8,
                        'subsystem_vendor': 0x10de,
                        'subsystem_device': subsystem or
                        SUBSYSTEM[mdev_type]},
           'mdev_type': mdev_type}
    if attrs:
        out['mdev_attrs'] = [attrs]
    return out


def bare(mdev_type, major, minor):
    """Emits major.minor, accepts minors 0..minor of its own type."""
    return record(mdev_type, major, minor)


class MdevTypesTest(base.VFIOCompatTestBase):

    def setUp(self):
        super().setUp()
        self.work = self.useFixture(fixtures.TempDir()).path
        self.nova_conf = '%s/nova.conf' % self.work
        with open(self.nova_conf, 'w') as f:
            # What the harness gives nova-compute (base: self.flags).
            f.write('[devices]\nenabled_mdev_types = %s\n' % TYPE_11)

    def _start(self, hostname, documents, precreated=False,
               enabled=TYPE_11):
        """A compute with two two-type GPUs, published by the reporter.

        ``documents`` maps an mdev type to the document of that type on
        both GPUs; Nova on the host enables type ``enabled``.
        """
        pci_info = fakelibvirt.HostPCIDevicesInfo(
            num_pci=0, num_pfs=0, num_vfs=0, num_mdevcap=2,
            multiple_gpu_types=True)
        nova_conf = self.nova_conf
        if enabled != TYPE_11:
            # The libvirt driver reads its types when it starts.
            self.flags(enabled_mdev_types=[enabled], group='devices')
            nova_conf = '%s/nova-%s.conf' % (self.work, hostname)
            with open(nova_conf, 'w') as f:
                f.write('[devices]\nenabled_mdev_types = %s\n' % enabled)
        self.start_compute_with_vgpu(hostname, pci_info=pci_info)
        self.flags(enabled_mdev_types=[TYPE_11], group='devices')
        entries = []
        for mdev_type, document in sorted(documents.items()):
            path = '%s/%s-%s.yaml' % (self.work, hostname, mdev_type)
            with open(path, 'w') as f:
                yaml.safe_dump(document, f)
            for address in (base.GPU0, base.GPU1):
                entry = {'address': address, 'kind': 'mdev_type',
                         'mdev_type': mdev_type, 'document': path}
                if precreated:
                    # The site created every mdev the GPU can hold.
                    entry.update(mdevs=['%s-%s' % (hostname, address)],
                                 available_instances=0)
                entries.append(entry)
        device_list = '%s/%s-devices.yaml' % (self.work, hostname)
        with open(device_list, 'w') as f:
            yaml.safe_dump({'devices': entries}, f)

        conf = cfg.ConfigOpts()
        nvc_conf.register_all(conf)
        conf([], default_config_files=[])
        conf.set_override('device_list', device_list, group='reporter')
        conf.set_override('config_files', [nova_conf], group='nova')
        conf.set_override('precreated_mdev_attrs', precreated,
                          group='nova')
        source, _signal = published_devices.published_source(conf)
        devices = source()
        self.assertEqual({enabled}, {d.mdev_type for d in devices})
        result = sync.Reporter(self.sdk, hostname).sync(devices)
        self.assertTrue(result.ok, result.errors)

    def _assert_no_valid_host(self):
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, self.server, 'error')
        self.assertIn('NoValidHost', str(ex))
        server = self._wait_for_state_change(self.server, 'ACTIVE')
        self.assertEqual('A', server['OS-EXT-SRV-ATTR:host'])

    def test_only_the_enabled_types_stream_must_be_accepted(self):
        self._start('A', {TYPE_11: bare(TYPE_11, 1, 2),
                          TYPE_12: bare(TYPE_12, 1, 2)})
        # Another driver branch: accepts the nvidia-11 stream (1.2 <= 1.3)
        # but not the nvidia-12 one (major 2); the server uses nvidia-11.
        self._start('B', {TYPE_11: bare(TYPE_11, 1, 3),
                          TYPE_12: bare(TYPE_12, 2, 0)})
        self._boot('A')

        self._live_migrate(self.server, 'completed')

        self.assertEqual('B', self._host_of(self.server))
        self.assert_mdev_usage(self.computes['B'], 1)

    def test_an_accepting_type_nova_does_not_use_is_refused(self):
        self._start('A', {TYPE_11: bare(TYPE_11, 1, 2)})
        # C's nvidia-11 runs another major; only its nvidia-12 document
        # accepts the nvidia-11 stream, and Nova never creates nvidia-12.
        self._start('C', {
            TYPE_11: bare(TYPE_11, 2, 0),
            TYPE_12: {'self': record(TYPE_12, 1, 2),
                      'compatible': [record(TYPE_12, 1, 2,
                                            SUBSYSTEM[TYPE_11])]}})
        self._boot('A')

        self._assert_no_valid_host()
        # The request's summary names the host among those rejected
        # because no provider of its tree accepts the stream.
        self.assertTrue([line for line in self._filter_log()
                         if 'rejected: 1 because no provider of the host '
                         'accepts stream' in line and '(e.g. C)' in line],
                        self._filter_log())

    def test_a_gpu_of_another_type_is_refused_whatever_the_document(self):
        # The vendor's documents leave mdev_type out of every record, so
        # as documents E's accepts the stream of A.  But E's Nova uses
        # nvidia-12 and Nova migrates an nvidia-11 vGPU only into an
        # nvidia-11 mdev (its destination check refuses the others): the
        # published streams carry the type, and only F is a target.
        def untyped(minor):
            own = record(TYPE_11, 1, minor)
            del own['mdev_type']
            return own
        self._start('A', {TYPE_11: untyped(2)})
        self._start('E', {TYPE_12: untyped(3)}, enabled=TYPE_12)
        self._start('F', {TYPE_11: untyped(3)})
        self._boot('A')

        self._live_migrate(self.server, 'completed')

        self.assertEqual('F', self._host_of(self.server))
        self.assertTrue([line for line in self._filter_log()
                         if 'rejected: 1 because no provider of the host '
                         'accepts stream' in line and '(e.g. E)' in line],
                        self._filter_log())

    def test_an_accept_that_needs_mdev_attrs_needs_precreated_mdevs(self):
        # A's nvidia-11 vGPU is an aggregated one (subsystem 0x0003); D
        # and P receive that stream only on an nvidia-11 created with
        # aggregation=3, which Nova cannot do unless the site pre-creates
        # such mdevs, as it did on P only.
        self._start('A', {TYPE_11: record(TYPE_11, 1, 2, AGGREGATED)})
        receiver = {'self': record(TYPE_11, 1, 2),
                    'compatible': [
                        record(TYPE_11, 1, 2),
                        record(TYPE_11, 1, 2, AGGREGATED,
                               attrs={'aggregation': '3'})]}
        self._start('D', {TYPE_11: receiver}, precreated=False)
        self._start('P', {TYPE_11: receiver}, precreated=True)
        self._boot('A')

        self._live_migrate(self.server, 'completed')

        self.assertEqual('P', self._host_of(self.server))
        # The request's summary names D among the hosts rejected because
        # no provider of its tree accepts the stream.
        self.assertTrue([line for line in self._filter_log()
                         if 'rejected: 1 because no provider of the host '
                         'accepts stream' in line and '(e.g. D)' in line],
                        self._filter_log())
