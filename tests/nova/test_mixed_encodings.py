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


"""A rolling upgrade from trait encoding 1 to 2, through Nova.

Hosts whose reporter still publishes encoding 1 (one accept trait per
minor) next to hosts publishing encoding 2 (the blocks of the range): the
filter understands both, so live migrations land where the rules say, on
the device that accepts; an upgraded reporter replaces its host's
encoding 1 traits on its first sync.
"""

from nova_vfio_compat.model import traits as nvc_traits
from tests import encodings
from tests.nova import base


class MixedEncodingsTest(base.VFIOCompatTestBase):

    def _start_v1_host(self, hostname, gpu0, gpu1):
        """A vGPU compute whose reporter is of encoding 1."""
        self.start_compute_with_vgpu(hostname)
        root_names = set()
        for gpu_rp, document in ((base.GPU0_RP, gpu0), (base.GPU1_RP, gpu1)):
            names = encodings.v1_traits(document)
            self._add_traits('%s_%s' % (hostname, gpu_rp), names)
            root_names |= names
        self._add_traits(hostname, root_names)
        self.assertFalse(any(n.startswith(nvc_traits.ACCEPT_PREFIX)
                             for n in self._traits(hostname)))

    def _add_traits(self, provider_name, names):
        pl = self.sdk.placement
        for name in names:
            pl.create_trait(name)
        rp = next(iter(pl.resource_providers(name=provider_name)))
        current = pl.get_resource_provider_trait(rp.id)
        pl.set_resource_provider_trait(
            current, traits=sorted(set(current.traits) | set(names)))

    def _traits(self, provider_name):
        pl = self.sdk.placement
        rp = next(iter(pl.resource_providers(name=provider_name)))
        return set(pl.get_resource_provider_trait(rp.id).traits)

    def _assert_landed_on(self, host, gpu_rp):
        self.assertEqual(host, self._host_of(self.server))
        self.assertEqual({self._rp(host, gpu_rp): {'VGPU': 1}},
                         self._device_allocations(self.server))

    def test_encoding_1_destination_is_understood(self):
        # The source and B not upgraded yet; C upgraded, another major.
        self._start_v1_host('A', base.EMITS_1_2, base.EMITS_1_2)
        self._start_v1_host('B', base.REFUSES_1_2, base.ACCEPTS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        self._boot('A')

        self._live_migrate(self.server, 'completed')

        # B's second GPU carries the encoding 1 name of minor 2.
        self._assert_landed_on('B', base.GPU1_RP)
        self.assertTrue([line for line in self._filter_log()
                         if 'because no provider of the host accepts '
                         'stream' in line and '(e.g. C)' in line],
                        self._filter_log())

    def test_encoding_2_destination_among_encoding_1_hosts(self):
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_v1_host('B', base.REFUSES_1_2, base.REFUSES_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.ACCEPTS_1_2)
        self._boot('A')

        self._live_migrate(self.server, 'completed')

        self._assert_landed_on('C', base.GPU1_RP)
        self.assertTrue([line for line in self._filter_log()
                         if 'because no provider of the host accepts '
                         'stream' in line and '(e.g. B)' in line],
                        self._filter_log())

        # B's reporter is upgraded: its first sync replaces encoding 1.
        nova_traits = {n for n in self._traits('B')
                       if not nvc_traits.is_owned(n)}
        self._publish('B', {base.GPU0: base.REFUSES_1_2,
                            base.GPU1: base.REFUSES_1_2})
        # A GPU's traits also name its mdev type; the compute node
        # carries none of its GPUs' traits.
        want = nvc_traits.document_traits(base.REFUSES_1_2) | {
            nvc_traits.mdev_type_trait(base.MDEV_TYPE)}
        for provider, names in (
                ('B', set()),
                ('B_' + base.GPU0_RP, want), ('B_' + base.GPU1_RP, want)):
            owned = {n for n in self._traits(provider)
                     if nvc_traits.is_owned(n)}
            self.assertEqual(names, owned)
        self.assertEqual(nova_traits, {n for n in self._traits('B')
                                       if not nvc_traits.is_owned(n)})
