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


"""A Nova functional test base with VFIOCompatFilter enabled.

Real parts: Nova's API, conductor, scheduler (with the filter loaded through
``[filter_scheduler] available_filters``) and nova-compute with the libvirt
driver on fakelibvirt (mdev-capable GPUs at 0000:81:00.0 and 0000:81:01.0,
type nvidia-11), all against the real Placement app.  The traits are
published by this project's :class:`nova_vfio_compat.reporter.sync.Reporter`
through openstacksdk, against the same Placement.
"""

import re
import threading
import time

import fixtures
from openstack import connection
from openstack import service_description
from oslo_config import cfg
from placement import deploy

from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import test_vgpu

from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import records
from nova_vfio_compat.reporter import sync

CONF = cfg.CONF
IMAGE = '155d900f-4e14-4e4c-a73d-069cbf4541e6'
# fakelibvirt's two mdev-capable GPUs, as PCI addresses and as the suffix
# of Nova's provider names (<host>_pci_0000_81_00_0).
GPU0 = '0000:81:00.0'
GPU1 = '0000:81:01.0'
GPU0_RP = fakelibvirt.MDEVCAP_DEV1_PCI_ADDR
GPU1_RP = fakelibvirt.MDEVCAP_DEV2_PCI_ADDR
MDEV_TYPE = fakelibvirt.NVIDIA_11_VGPU_TYPE
LOG_PREFIX = 'VFIOCompatFilter: '
# nova.test.TestCase replaces the SDK's placement proxy with a bare session
# client for the duration of every test (OpenStackSDKFixture); the reporter
# needs the real one, so it is kept from before any test starts.
_REAL_MAKE_PROXY = service_description.ServiceDescription._make_proxy


def gpu_document(major, minor, subsystem_device=0x12a2):
    """A capability document of a vGPU family (a bare record).

    It emits version ``major.minor`` and accepts minors 0..``minor`` of
    the same major with the same guest-visible IDs.
    """
    return records.loads(
        'device_api: vfio-pci\n'
        'vendor: nvidia\n'
        'version: {major: %d, minor: %d}\n'
        'vfio-pci: {vendor: 0x10de, device: 0x1eb8,\n'
        '           subsystem_vendor: 0x10de, subsystem_device: 0x%04x}\n'
        'mdev_type: %s\n' % (major, minor, subsystem_device, MDEV_TYPE),
        'test document v%d.%d' % (major, minor))


def published(document):
    """``document`` as the reporter publishes it for a GPU of MDEV_TYPE.

    Typed (:func:`publication.typed_document`): the reporter does it to
    every mdev type's document, so the tests' expected trait names are
    those of the typed document.
    """
    return publication.typed_document(document, MDEV_TYPE)[0]


# The three kinds of host of the tests, as published.
EMITS_1_2 = published(gpu_document(1, 2))     # the source: emits 1.2
ACCEPTS_1_2 = published(gpu_document(1, 3))   # a newer minor: 1.0..1.3
REFUSES_1_2 = published(gpu_document(2, 0))   # another major: 2.0 only


class PlacementRequests:
    """WSGI middleware around the Placement app that records requests."""

    def __init__(self, app):
        self.app = app
        self.requests = []
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        line = environ['REQUEST_METHOD'], environ.get('PATH_INFO', ''), \
            environ.get('QUERY_STRING', '')
        with self._lock:
            self.requests.append(line)
        return self.app(environ, start_response)


class PatientWaits:
    """Nova's wait for a migration's status, with a deadline for busy CI.

    Nova's helper gives a migration 5 s (10 polls 0.5 s apart). With the
    suite's six test processes on two cores a live migration can take
    longer, and the test then fails on the wait, not on what it checks
    (seen at a load average of 9). The same wait, polled every 0.2 s, up
    to ``MIGRATION_DEADLINE`` seconds.
    """

    MIGRATION_DEADLINE = 60

    def _wait_for_migration_status(self, server, expected_statuses):
        api = getattr(self, 'admin_api', self.api)
        statuses = [status.lower() for status in expected_statuses]
        deadline = time.monotonic() + self.MIGRATION_DEADLINE
        actual = None
        while True:
            for migration in api.api_get('/os-migrations').body[
                    'migrations']:
                if migration['instance_uuid'] == server['id']:
                    actual = migration['status']
                    if actual.lower() in statuses:
                        return migration
            if time.monotonic() > deadline:
                self.fail('No migration of instance %s reached %s in %d s '
                          '(last seen: %s)' % (
                              server['id'], statuses,
                              self.MIGRATION_DEADLINE, actual))
            time.sleep(0.2)


class VFIOCompatTestBase(PatientWaits, test_vgpu.VGPUTestBase):
    """Three-host vGPU cloud with VFIOCompatFilter enabled."""

    # mdev live migration needs libvirt >= 8.6.0 and QEMU >= 8.1.0.
    FAKE_LIBVIRT_VERSION = 8006000
    FAKE_QEMU_VERSION = 8001000

    def _setup_scheduler_service(self):
        # HostManager loads the filter classes when the scheduler starts.
        self.flags(
            available_filters=['nova.scheduler.filters.all_filters',
                               'nova_vfio_compat.scheduler.VFIOCompatFilter'],
            enabled_filters=(list(CONF.filter_scheduler.enabled_filters) +
                             ['VFIOCompatFilter']),
            group='filter_scheduler')
        return super()._setup_scheduler_service()

    def setUp(self):
        # Count requests where Placement sees them, whoever sends them.
        self.placement_app = None
        loadapp = deploy.loadapp

        def counting_loadapp(conf, *args, **kwargs):
            self.placement_app = PlacementRequests(
                loadapp(conf, *args, **kwargs))
            return self.placement_app
        self.useFixture(fixtures.MonkeyPatch('placement.deploy.loadapp',
                                             counting_loadapp))
        super().setUp()
        # fakelibvirt's migrateToURI3 always fails: create the domain on
        # whatever destination the scheduler picked and finish the job.
        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt.Domain.migrateToURI3',
            self._migrate_stub))
        self.flags(enabled_mdev_types=[MDEV_TYPE], group='devices')
        self.sdk = connection.Connection(
            auth_type='admin_token',
            auth={'endpoint': self.placement_fixture.endpoint,
                  'token': 'admin'})
        # The connection makes its proxy on first use and keeps it; make it
        # the SDK's own, for this connection only.
        with fixtures.MonkeyPatch(
                'openstack.service_description.ServiceDescription.'
                '_make_proxy', _REAL_MAKE_PROXY):
            self.assertTrue(hasattr(self.sdk.placement,
                                    'resource_providers'))
        self.server = None

    def _migrate_stub(self, domain, destination, params, flags):
        dest = re.match(r'qemu\+\w+://([^/]+)/system', destination).group(1)
        self.computes[dest].driver._host.get_connection().createXML(
            params['destination_xml'],
            'fake-createXML-doesnt-care-about-flags')
        domain.complete_job()

    # Hosts, traits ---------------------------------------------------

    def _start_host(self, hostname, gpu0=None, gpu1=None):
        """Start a vGPU compute and publish its GPUs' documents.

        A GPU whose document is None is not described to the reporter.
        """
        compute = self.start_compute_with_vgpu(hostname)
        self._publish(hostname, {GPU0: gpu0, GPU1: gpu1})
        return compute

    def _publish(self, hostname, documents):
        """Publish ``{parent address: document}`` with the Reporter."""
        devices = [
            nvc_devices.Device(address=address,
                               kind=nvc_devices.KIND_MDEV_TYPE,
                               mdev_type=MDEV_TYPE, document=document)
            for address, document in sorted(documents.items())
            if document is not None]
        result = sync.Reporter(self.sdk, hostname).sync(devices)
        self.assertTrue(result.ok, result.errors)
        return result

    def _rp(self, host, gpu_rp):
        return self._get_provider_uuid_by_name('%s_%s' % (host, gpu_rp))

    # Servers ---------------------------------------------------------

    def _vgpu_flavor(self, **extra_spec):
        extra_spec.setdefault('resources:VGPU', '1')
        return self._create_flavor(extra_spec=extra_spec)

    def _boot(self, host, flavor=None):
        self.server = self._create_server(
            image_uuid=IMAGE, flavor_id=flavor or self._vgpu_flavor(),
            networks='none', host=host)
        self.assertEqual(host, self.server['OS-EXT-SRV-ATTR:host'])
        return self.server

    def _host_of(self, server):
        return self.api.get_server(server['id'])['OS-EXT-SRV-ATTR:host']

    def _device_allocations(self, server):
        """{provider uuid: resources} of the server's non-root providers."""
        roots = set(self.compute_rp_uuids.values())
        return {rp: alloc['resources'] for rp, alloc in
                self._get_allocations_by_server_uuid(server['id']).items()
                if rp not in roots}

    def _filter_log(self):
        return [line for line in self.stdlog.logger.output.splitlines()
                if LOG_PREFIX in line]
