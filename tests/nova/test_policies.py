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


"""What VFIOCompatFilter leaves alone, its policies and its failure modes."""

from placement.tests.unit import policy_fixture as placement_policy

import nova.conf
from nova.filters import BaseFilter
from nova.tests.functional.api import client

from tests.nova import base


class _OnlyIncompatibleHost(base.VFIOCompatTestBase):
    """A vGPU server on A; the only other host, C, refuses its stream."""

    def setUp(self):
        super().setUp()
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)

    def _assert_refused(self):
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, self.server, 'error')
        self.assertIn('NoValidHost', str(ex))
        self.assertEqual('A', self._host_of(
            self._wait_for_state_change(self.server, 'ACTIVE')))

    def _assert_migrates_to_c(self):
        self._live_migrate(self.server, 'completed')
        self.assertEqual('C', self._host_of(self.server))


class UnaffectedTest(_OnlyIncompatibleHost):

    def test_server_without_vfio_device_live_migrates(self):
        self._boot('A', flavor=self._create_flavor())
        self.assertEqual({}, self._device_allocations(self.server))
        self._assert_migrates_to_c()
        self.assertEqual([], self._filter_log())

    def test_boot_and_cold_migration_are_not_checked(self):
        # Boot with no host named: both hosts pass.
        first = self._create_server(image_uuid=base.IMAGE,
                                    flavor_id=self._vgpu_flavor(),
                                    networks='none')
        self.assertIn(first['OS-EXT-SRV-ATTR:host'], ('A', 'C'))
        self._boot('A')
        # A cold migration does not move a migration stream: C may take
        # the server although its GPUs refuse A's stream.
        self._migrate_server(self.server)
        self._confirm_resize(self.server)
        self.assertEqual('C', self._host_of(self.server))
        (device,) = self._device_allocations(self.server)
        self.assertIn(device, (self._rp('C', base.GPU0_RP),
                               self._rp('C', base.GPU1_RP)))
        self.assertEqual([], self._filter_log())

    def test_per_host_path_gives_the_same_answer(self):
        # Nova's plain BaseHostFilter path (one host_passes() per host)
        # instead of the filter_all() override.
        self.useFixture(base.fixtures.MonkeyPatch(
            'nova_vfio_compat.scheduler.vfio_compat_filter.'
            'VFIOCompatFilter.filter_all', BaseFilter.filter_all))
        self._start_host('B', gpu0=base.REFUSES_1_2, gpu1=base.ACCEPTS_1_2)
        self._boot('A')
        start = len(self.placement_app.requests)
        self._live_migrate(self.server, 'completed')
        self.assertEqual('B', self._host_of(self.server))
        self.assertEqual({self._rp('B', base.GPU1_RP): {'VGPU': 1}},
                         self._device_allocations(self.server))
        # Two hosts asked, the request's data read once.
        accept_queries = [r for r in self.placement_app.requests[start:]
                          if r[2].startswith('required=')]
        self.assertEqual(1, len(accept_queries), accept_queries)
        # Host by host there is no end of the request to summarise at:
        # the per-host lines are DEBUG, nothing at INFO.
        self.assertEqual([], self._filter_log())


class PolicyTest(_OnlyIncompatibleHost):

    def test_flavor_policy_skip_opts_out(self):
        self._boot('A', flavor=self._vgpu_flavor(
            **{'vfio_compat:policy': 'skip'}))
        self._assert_migrates_to_c()
        self.assertEqual([], self._filter_log())

    def test_default_policy_skip_and_flavor_check(self):
        self.flags(default_policy='skip', group='vfio_compat_filter')
        self._boot('A', flavor=self._vgpu_flavor(
            **{'vfio_compat:policy': 'check'}))
        self._assert_refused()

    def test_strict_refuses_devices_the_reporter_does_not_describe(self):
        # The reporter describes none of D's GPUs.
        self._start_host('D')
        self._boot('D', flavor=self._vgpu_flavor(
            **{'vfio_compat:policy': 'strict'}))
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, self.server, 'error')
        self.assertIn('NoValidHost', str(ex))
        self.assertIn('have no capability traits', self.stdlog.logger.output)

    def test_check_passes_devices_the_reporter_does_not_describe(self):
        self._start_host('D')
        self._boot('D')
        self._live_migrate(self.server, 'completed')
        self.assertIn(self._host_of(self.server), ('A', 'C'))


class PlacementFailureTest(_OnlyIncompatibleHost):
    """Placement answers the filter's queries with an error.

    A real Placement error: its policy forbids listing resource providers
    once the server is booted, so the filter's GET /resource_providers
    gets a 403 (the scheduler's own allocation candidates query and the
    conductor's allocation moves are other policies and still work).
    """

    def _break_placement(self):
        placement_policy.PolicyFixture.set_rules(
            {'placement:resource_providers:list': '!'}, overwrite=False)

    def test_fails_closed_by_default(self):
        self._start_host('B', gpu0=base.ACCEPTS_1_2, gpu1=base.ACCEPTS_1_2)
        self._boot('A')
        self._break_placement()
        self._assert_refused()
        self.assertIn('VFIOCompatFilter: cannot check the live migration of '
                      'instance %s: Placement GET /resource_providers'
                      % self.server['id'], self.stdlog.logger.output)
        self.assertIn('answered 403', self.stdlog.logger.output)
        self.assertIn('rejecting every host (fail closed',
                      self.stdlog.logger.output)

    def test_fail_open_passes_every_host(self):
        self.flags(fail_open=True, group='vfio_compat_filter')
        self._boot('A')
        self._break_placement()
        self._assert_migrates_to_c()
        self.assertIn('passing every host unchecked',
                      self.stdlog.logger.output)


class CacheTest(base.VFIOCompatTestBase):
    """Results are kept for one request only."""

    def test_a_new_request_sees_new_traits(self):
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)
        self._boot('A')
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, self.server, 'error')
        self.assertIn('NoValidHost', str(ex))
        self._wait_for_state_change(self.server, 'ACTIVE')
        # C's driver is upgraded and the reporter publishes the change.
        self._publish('C', {base.GPU0: base.ACCEPTS_1_2,
                            base.GPU1: base.ACCEPTS_1_2})
        self._live_migrate(self.server, 'completed')
        self.assertEqual('C', self._host_of(self.server))


class CachePerHostTest(CacheTest):
    """The same through host_passes(), which keeps one request's data."""

    def setUp(self):
        super().setUp()
        self.useFixture(base.fixtures.MonkeyPatch(
            'nova_vfio_compat.scheduler.vfio_compat_filter.'
            'VFIOCompatFilter.filter_all', BaseFilter.filter_all))


class CustomMdevClassTest(base.VFIOCompatTestBase):
    """GPUs whose vGPUs Nova inventories under ``[mdev_<type>] mdev_class``.

    A custom class is not a device class the filter knows by name: the
    GPU is a device because it carries an emit trait (or, undescribed,
    because it is a provider Nova owns).
    """

    MDEV_CLASS = 'CUSTOM_VGPU_T4'

    def setUp(self):
        super().setUp()
        nova.conf.devices.register_dynamic_opts(base.CONF)
        # Nova applies a class to the GPUs a type names only.
        self.flags(mdev_class=self.MDEV_CLASS,
                   device_addresses=[base.GPU0, base.GPU1],
                   group='mdev_%s' % base.MDEV_TYPE)
        self._start_host('A', gpu0=base.EMITS_1_2, gpu1=base.EMITS_1_2)
        self._start_host('C', gpu0=base.REFUSES_1_2, gpu1=base.REFUSES_1_2)

    def _flavor(self, policy):
        return self._create_flavor(extra_spec={
            'resources:%s' % self.MDEV_CLASS: '1',
            'vfio_compat:policy': policy})

    def test_described_gpu_is_checked(self):
        self._boot('A', flavor=self._flavor('check'))
        self.assertEqual([{self.MDEV_CLASS: 1}], list(
            self._device_allocations(self.server).values()))
        self._assert_refused_from('A')
        self.assertTrue([line for line in self._filter_log()
                         if '0 of 1 hosts passed' in line])

    def test_strict_refuses_an_undescribed_gpu(self):
        # The reporter describes none of D's GPUs.
        self._start_host('D')
        self._boot('D', flavor=self._flavor('strict'))
        self._assert_refused_from('D')
        (line,) = [line for line in self._filter_log()
                   if 'cannot be live-migrated' in line]
        self.assertIn('have no capability traits', line)
        self.assertIn('D_%s' % base.GPU0_RP if self._on_gpu0() else
                      'D_%s' % base.GPU1_RP, line)

    def _on_gpu0(self):
        (rp,) = self._device_allocations(self.server)
        return rp == self._rp('D', base.GPU0_RP)

    def _assert_refused_from(self, host):
        ex = self.assertRaises(client.OpenStackApiException,
                               self._live_migrate, self.server, 'error')
        self.assertIn('NoValidHost', str(ex))
        self.assertEqual(host, self._host_of(
            self._wait_for_state_change(self.server, 'ACTIVE')))
