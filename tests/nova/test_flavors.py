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


"""Flavors: the vfio_compat: extra specs through Nova's flavor API, and the
reporter's traits used for placement at boot."""

from nova.tests.functional.api import client

from nova_vfio_compat.model import traits as nvc_traits
from tests.nova import base


class ExtraSpecValidationTest(base.VFIOCompatTestBase):
    """nova-api validates the namespace from microversion 2.86."""

    def _set(self, flavor_id, specs):
        return self.admin_api.post_extra_spec(
            flavor_id, {'extra_specs': specs})

    def test_documented_values_are_accepted(self):
        self.assertEqual('latest', self.admin_api.microversion)
        flavor_id = self._create_flavor()
        for value in ('check', 'strict', 'skip'):
            self._set(flavor_id, {'vfio_compat:policy': value})
            self.assertEqual(
                value, self.admin_api.get_extra_spec(
                    flavor_id, 'vfio_compat:policy')['vfio_compat:policy'])

    def test_other_values_and_keys_are_rejected(self):
        flavor_id = self._create_flavor()
        for specs, says in (
                ({'vfio_compat:policy': 'required'}, 'check, strict, skip'),
                ({'vfio_compat:policy': ''}, 'check, strict, skip'),
                ({'vfio_compat:polcy': 'check'}, 'vfio_compat:polcy')):
            ex = self.assertRaises(client.OpenStackApiException,
                                   self._set, flavor_id, specs)
            self.assertEqual(400, ex.response.status_code, specs)
            self.assertIn(says, str(ex))
        self.assertEqual({}, self.admin_api.get_extra_specs(flavor_id))

    def test_older_microversions_do_not_validate(self):
        # Before 2.86 nova-api stores any extra spec; the filter then treats
        # an unknown policy like the default.
        flavor_id = self._create_flavor()
        self.admin_api.microversion = '2.85'
        self._set(flavor_id, {'vfio_compat:policy': 'bogus'})
        self.admin_api.microversion = 'latest'
        self.assertEqual('bogus', self.admin_api.get_extra_specs(
            flavor_id)['vfio_compat:policy'])


class BootWithTraitsTest(base.VFIOCompatTestBase):
    """A flavor asks Placement for a GPU that accepts a given stream."""

    def test_trait_in_flavor_picks_the_accepting_gpu(self):
        self._start_host('B', gpu0=base.REFUSES_1_2, gpu1=base.ACCEPTS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        # The block of B's accepted range that holds minor 2: a flavor
        # names one trait (Nova has no any-of trait syntax for flavors).
        (accept,) = nvc_traits.accept_traits_for(
            nvc_traits.emit_trait(base.EMITS_1_2.emits)) & \
            nvc_traits.document_traits(base.ACCEPTS_1_2)
        # Numbered group: the trait must be on the provider of the VGPU.
        flavor = self._create_flavor(extra_spec={
            'resources1:VGPU': '1', 'trait1:%s' % accept: 'required'})
        server = self._create_server(image_uuid=base.IMAGE, flavor_id=flavor,
                                     networks='none')
        self.assertEqual('B', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual({self._rp('B', base.GPU1_RP): {'VGPU': 1}},
                         self._device_allocations(server))
