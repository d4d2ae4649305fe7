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

"""The real Placement in-process, and providers laid out the way Nova lays
them out."""

import dataclasses
import threading
import time

from openstack import connection
from oslo_utils import uuidutils
from placement import deploy
from placement.tests.functional.fixtures import placement as pfix
import pytest
from wsgi_intercept import interceptor

from nova_vfio_compat.reporter import plan

HOST = 'compute1.example.com'
# What nova-compute and another agent have put on the providers; none of
# it may ever be removed.
NOVA_ROOT_TRAITS = frozenset(['COMPUTE_NODE', 'OWNER_NOVA', 'HW_CPU_X86_AVX2',
                              'COMPUTE_STATUS_DISABLED'])
OTHER_AGENT_TRAIT = 'CUSTOM_OTHER_AGENT_RACK_7'
NOVA_MDEV_TRAITS = frozenset(['OWNER_NOVA'])
NOVA_PCI_TRAITS = frozenset(['COMPUTE_MANAGED_PCI_DEVICE', 'OWNER_NOVA',
                             'CUSTOM_MLX5_VF'])


class CountingApp:
    """WSGI middleware recording every request the app serves.

    Tests count exactly the write requests a sync made with it.
    """

    def __init__(self, app):
        self.app = app
        self.requests = []      # [method, path, status]
        # The fixture's in-memory sqlite is one connection: requests from
        # two threads at once (a service thread and the test) would share
        # it mid-transaction, so they are served one at a time, as by a
        # single-threaded server.
        self._lock = threading.RLock()

    def __call__(self, environ, start_response):
        entry = [environ['REQUEST_METHOD'], environ.get('PATH_INFO', ''),
                 None]
        self.requests.append(entry)

        def recording_start_response(status, headers, *args):
            entry[2] = int(status.split()[0])
            return start_response(status, headers, *args)

        with self._lock:
            return list(self.app(environ, recording_start_response))

    def writes(self):
        return [r for r in self.requests if r[0] not in ('GET', 'HEAD')]

    def reset(self):
        del self.requests[:]


@dataclasses.dataclass
class Placement:
    endpoint: str
    app: CountingApp
    conn: connection.Connection


def sdk(endpoint):
    return connection.Connection(
        auth_type='admin_token', auth={'endpoint': endpoint,
                                       'token': 'admin'})


@pytest.fixture
def placement():
    """The real Placement app (in-memory sqlite) behind wsgi-intercept.

    With a request counter, and an SDK connection to it.
    """
    yield from _placement()


@pytest.fixture(scope='module')
def shared_placement():
    """One :func:`placement` for the tests of a module that only read."""
    yield from _placement()


def _placement():
    fx = pfix.PlacementFixture(use_intercept=False)
    fx.setUp()
    app = CountingApp(deploy.loadapp(fx.conf_fixture.conf))
    endpoint = 'http://%s/placement' % uuidutils.generate_uuid()
    intercept = interceptor.RequestsInterceptor(lambda: app, url=endpoint)
    intercept.install_intercept()
    try:
        yield Placement(endpoint, app, sdk(endpoint))
    finally:
        intercept.uninstall_intercept()
        fx.cleanUp()


def wait(predicate, timeout=10):
    """Poll ``predicate`` until it holds; fail the test after ``timeout``.

    Returns True, so ``assert c.wait(...)`` reads as what it checks.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    pytest.fail('timed out after %ss waiting for %s' % (timeout, predicate))


def set_traits(conn, rp, names):
    for name in names:
        if name.startswith('CUSTOM_'):
            conn.placement.create_trait(name)
    current = conn.placement.get_resource_provider_trait(rp.id)
    conn.placement.set_resource_provider_trait(current, traits=sorted(names))


def traits_of(conn, name):
    rp = next(iter(conn.placement.resource_providers(name=name)))
    return frozenset(conn.placement.get_resource_provider_trait(rp.id).traits)


def nova_layout(conn, host=HOST, mdev_parents=(), pci=()):
    """Create the providers nova-compute would.

    The root named after the host with Nova's traits (and another agent's
    custom trait), a child per mdev parent (``<host>_pci_<addr>``, VGPU
    inventory, OWNER_NOVA) and a child per PCI device Nova reports
    (``<host>_<ADDR>``, traits Nova replaces every period).
    """
    pl = conn.placement
    root = pl.create_resource_provider(name=host)
    set_traits(conn, root, NOVA_ROOT_TRAITS | {OTHER_AGENT_TRAIT})
    for address in mdev_parents:
        child = pl.create_resource_provider(
            name=plan.mdev_parent_provider_name(host, address),
            parent_provider_uuid=root.id)
        set_traits(conn, child, NOVA_MDEV_TRAITS)
        child = pl.get_resource_provider(child.id)
        pl.set_resource_provider_inventories(
            child, {'VGPU': {'total': 4, 'max_unit': 4}},
            resource_provider_generation=child.generation)
    for address in pci:
        child = pl.create_resource_provider(
            name='%s_%s' % (host, address.upper()),
            parent_provider_uuid=root.id)
        set_traits(conn, child, NOVA_PCI_TRAITS)
    return root
