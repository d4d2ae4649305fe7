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

"""Soak: many syncs with random device churn against a real Placement.

Each round changes the host at random -- devices appear and go, drivers
are upgraded (new documents), nova-compute creates another GPU provider,
another agent adds and removes traits of its own on the same providers --
then the reporter syncs through a network that fails a few requests (see
:mod:`.faults`).  After every sync that says it published everything, and
at the end (faults healed), each provider must hold exactly the owned
traits its devices' documents call for and exactly the foreign traits
everyone else put there.

``NVC_SOAK_ITERATIONS`` (default 25, CI-sized) sets the number of rounds
and ``NVC_SOAK_SEED`` the random seed, e.g.
``NVC_SOAK_ITERATIONS=2000 pytest tests/functional/reliability/test_soak.py``.
"""

import os
import random

from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import records
from nova_vfio_compat.reporter import plan
from nova_vfio_compat.reporter import sync
from tests.functional.reliability import faults
from tests.functional.reporter import conftest as c
from tests import reporter_devices as rd

ITERATIONS = int(os.environ.get('NVC_SOAK_ITERATIONS', '25'))
SEED = int(os.environ.get('NVC_SOAK_SEED', '0'))
HOST = 'soak.example.com'
FAULT_RATE = 0.05
PCI = '0000:c1:00.0'

_DOCUMENT = """device_api: vfio-pci
vendor: %(vendor)s
version: {major: %(major)d, minor: %(minor)d, minor_min: %(minor_min)d}
vfio-pci: {vendor: 0x10de, device: 0x%(device)04x,
           subsystem_vendor: 0x10de, subsystem_device: 0x%(subsys)04x}
"""


def random_document(rng):
    minor = rng.randrange(6)
    values = {'vendor': rng.choice(['nvidia', 'i915', 'mlx5']),
              'major': rng.randrange(1, 3), 'minor': minor,
              'minor_min': rng.randrange(minor + 1),
              'device': rng.choice([0x1eb8, 0x20b5]),
              'subsys': rng.randrange(0x1000, 0x1008)}
    return records.loads(_DOCUMENT % values, 'soak document %r' % values)


def gpu_address(index):
    return '0000:%02x:00.0' % (0x81 + index)


class Host:
    """The soaked host: what it has, and what Placement should say."""

    def __init__(self, rng, conn, network):
        self.rng = rng
        self.conn = conn
        self.network = network
        root = c.nova_layout(conn, host=HOST,
                             mdev_parents=[gpu_address(i) for i in range(3)],
                             pci=[PCI])
        self.root_uuid = root.id
        self.gpus = 3
        # (address, kind, mdev type) -> Document
        self.devices = {}
        self.foreign = {name: faults.foreign(names)
                        for name, names in self.state().items()}
        self.other = 0

    def state(self):
        """{provider: trait set}, read past the faulty network."""
        _status, body = self.network.call_app(
            'GET', '/resource_providers?in_tree=%s' % self.root_uuid,
            version='1.14')
        state = {}
        for rp in body['resource_providers']:
            _status, names = self.network.call_app(
                'GET', '/resource_providers/%s/traits' % rp['uuid'])
            state[rp['name']] = frozenset(names['traits'])
        return state

    def device_list(self):
        return [nvc_devices.Device(address=addr, kind=kind,
                                   mdev_type=mdev_type, document=doc)
                for (addr, kind, mdev_type), doc in sorted(
                    self.devices.items())]

    # Churn ------------------------------------------------------------

    def churn(self):
        rng = self.rng
        for _ in range(rng.randrange(1, 4)):
            action = rng.random()
            if action < 0.35 or not self.devices:
                self._add_device()
            elif action < 0.55:
                del self.devices[rng.choice(sorted(self.devices))]
            elif action < 0.75:
                # A driver upgrade: same device, new document.
                key = rng.choice(sorted(self.devices))
                self.devices[key] = random_document(rng)
            elif action < 0.85 and self.gpus < 6:
                self._nova_adds_a_gpu()
            else:
                self._other_agent()

    def _add_device(self):
        rng = self.rng
        if rng.random() < 0.6:
            key = (gpu_address(rng.randrange(self.gpus)),
                   nvc_devices.KIND_MDEV_TYPE,
                   'type-%d' % rng.randrange(3))
        else:
            key = ('0000:c1:00.%d' % rng.randrange(1, 8),
                   nvc_devices.KIND_PCI, None)
        self.devices[key] = random_document(rng)

    def _nova_adds_a_gpu(self):
        name = plan.mdev_parent_provider_name(HOST, gpu_address(self.gpus))
        status, rp = self.network.call_app(
            'POST', '/resource_providers',
            {'name': name, 'parent_provider_uuid': self.root_uuid},
            version='1.20')
        assert status == 200, rp
        status, _ = self.network.call_app(
            'PUT', '/resource_providers/%s/traits' % rp['uuid'],
            {'traits': sorted(c.NOVA_MDEV_TRAITS),
             'resource_provider_generation': rp['generation']})
        assert status == 200
        self.foreign[name] = frozenset(c.NOVA_MDEV_TRAITS)
        self.gpus += 1

    def _other_agent(self):
        """Another agent adds or removes a trait of its own somewhere."""
        rng = self.rng
        name = rng.choice(sorted(self.foreign))
        _status, body = self.network.call_app(
            'GET', '/resource_providers?name=%s' % name)
        rp_uuid = body['resource_providers'][0]['uuid']
        _status, current = self.network.call_app(
            'GET', '/resource_providers/%s/traits' % rp_uuid)
        mine = sorted(t for t in current['traits']
                      if t.startswith('CUSTOM_SOAK_OTHER_'))
        names = set(current['traits'])
        if mine and rng.random() < 0.4:
            names.discard(rng.choice(mine))
        else:
            self.other += 1
            trait = 'CUSTOM_SOAK_OTHER_%d' % self.other
            self.network.call_app('PUT', '/traits/%s' % trait)
            names.add(trait)
        status, _ = self.network.call_app(
            'PUT', '/resource_providers/%s/traits' % rp_uuid,
            {'traits': sorted(names), 'resource_provider_generation':
                current['resource_provider_generation']})
        assert status == 200
        self.foreign[name] = faults.foreign(names)

    # What Placement must hold ------------------------------------------

    def expected(self):
        """{provider: full trait set}, from the documents themselves."""
        owned = {name: set() for name in self.foreign}
        devices = [nvc_devices.Device(address=addr, kind=kind,
                                      mdev_type=mdev_type, document=doc)
                   for (addr, kind, mdev_type), doc in self.devices.items()]
        owned[HOST] |= rd.root_traits(*devices)
        for device in devices:
            if device.kind == nvc_devices.KIND_MDEV_TYPE:
                owned[plan.mdev_parent_provider_name(
                    HOST, device.address)] |= rd.published_traits(device)
        return {name: frozenset(owned[name]) | self.foreign[name]
                for name in self.foreign}


def test_soak_random_churn_ends_in_exactly_the_expected_traits(
        faulty_placement):
    rng = random.Random(SEED)
    network = faulty_placement.network
    host = Host(rng, faulty_placement.conn, network)
    reporter = sync.Reporter(faulty_placement.conn, HOST)
    network.random_faults(FAULT_RATE, (faults.ERROR_5XX, faults.LOST_ANSWER,
                                       faults.CONFLICT), seed=SEED)
    checked = 0
    for _ in range(ITERATIONS):
        host.churn()
        result = reporter.sync(host.device_list())   # never raises
        # Conflicts are another agent writing: its traits are foreign too.
        state = host.state()
        for name in list(host.foreign):
            host.foreign[name] |= frozenset(
                t for t in state[name] if t in network.other_agent_traits)
        if result.ok:
            assert state == host.expected()
            checked += 1
    network.heal()
    final = reporter.sync(host.device_list())
    assert final.ok, final.errors
    assert host.state() == host.expected()
    assert reporter.sync(host.device_list()).writes == 0
    assert not network.violations
    # The soak exercised both paths: clean syncs and faulty ones.
    assert checked > 0
    assert ITERATIONS < 10 or network.injected
