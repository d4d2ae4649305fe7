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

"""Fleets published by the real reporter to the real Placement, and the
planning commands run against them through their command line."""

import contextlib
import io
import json
import uuid

import pytest

from benchmarks import fleet as bench_fleet
from nova_vfio_compat.cmd import cli
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import records
from nova_vfio_compat.reporter import plan as nvc_plan
from nova_vfio_compat.reporter import sync
from tests.functional.reporter import conftest as reporter_conftest

# The real Placement in-process, with its request counter.
placement = reporter_conftest.placement
shared_placement = reporter_conftest.shared_placement

NOVA_ROOT_TRAITS = ('COMPUTE_NODE', 'OWNER_NOVA')


def gpu(minor, major=1, total=4, used=0):
    """One GPU: (document, VGPU total, VGPU already used by others).

    ``minor`` None: a GPU the reporter does not describe.
    """
    if minor is None:
        return None, total, used
    return bench_fleet.document(major, minor), total, used


def typed_gpu(minor, mdev_type, major=1):
    """One GPU of the family whose Nova uses ``mdev_type`` on it.

    Its capability document names that type (``mdev_type:``); the
    reporter types its streams with it.
    """
    raw = records.loads(bench_fleet.document_text(major, minor).replace(
        'mdev_type: %s' % bench_fleet.MDEV_TYPE, 'mdev_type: %s' % mdev_type),
        'gpu %s %d.%d' % (mdev_type, major, minor))
    return raw, 4, 0, mdev_type


class Fleet:
    """Hosts laid out as nova-compute does, published by the reporter."""

    def __init__(self, placement):
        self.placement = placement
        self.conn = placement.conn
        self.gpus = {}          # host -> [provider uuid]
        self.documents = {}     # provider uuid -> Document

    def host(self, name, *gpus):
        pl = self.conn.placement
        root = pl.create_resource_provider(name=name)
        reporter_conftest.set_traits(self.conn, root, NOVA_ROOT_TRAITS)
        found = []
        self.gpus[name] = []
        for i, (document, total, used, *mdev_type) in enumerate(gpus):
            address = bench_fleet.parent_address(i)
            child = pl.create_resource_provider(
                name=nvc_plan.mdev_parent_provider_name(name, address),
                parent_provider_uuid=root.id)
            reporter_conftest.set_traits(self.conn, child, ['OWNER_NOVA'])
            child = pl.get_resource_provider(child.id)
            pl.set_resource_provider_inventories(
                child, {'VGPU': {'total': total, 'max_unit': total}},
                resource_provider_generation=child.generation)
            self.gpus[name].append(child.id)
            self.documents[child.id] = document
            for _ in range(used):
                self.allocate(None, child.id)
            if document is None:
                continue
            found.append(nvc_devices.Device(
                address=address, kind=nvc_devices.KIND_MDEV_TYPE,
                mdev_type=(mdev_type or [bench_fleet.MDEV_TYPE])[0],
                document=document,
                provenance=nvc_devices.SOURCE_FILE))
        result = sync.Reporter(self.conn, name).sync(found)
        assert result.ok, result.errors
        return self.gpus[name]

    def allocate(self, server, *providers, amount=1):
        """A consumer holding ``amount`` VGPU on each of ``providers``."""
        consumer = str(uuid.uuid5(uuid.NAMESPACE_DNS, server) if server
                       else uuid.uuid4())
        response = self.conn.placement.put(
            '/allocations/%s' % consumer, json={
                'allocations': {provider: {'resources': {'VGPU': amount}}
                                for provider in providers},
                'project_id': 'p', 'user_id': 'u',
                'consumer_generation': None}, microversion='1.28')
        assert response.status_code == 204, response.text
        return consumer


@pytest.fixture
def fleet(placement):
    return Fleet(placement)


@pytest.fixture
def nova_conf(tmp_path, placement):
    return write_nova_conf(tmp_path, placement)


def write_nova_conf(directory, placement):
    """A nova.conf in ``directory`` whose [placement] is ``placement``."""
    path = directory / 'nova.conf'
    path.write_text('[placement]\nauth_type = admin_token\nendpoint = %s\n'
                    'token = admin\n' % placement.endpoint)
    return str(path)


def run(nova_conf, *argv):
    """``nova-vfio-compat --config-file NOVA_CONF ARGV``.

    :returns: (exit status, stdout, stderr).
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(['--config-file', nova_conf] + list(argv))
        except SystemExit as e:     # argparse refusing the command line
            status = e.code
    return status, out.getvalue(), err.getvalue()


def run_json(nova_conf, *argv):
    status, out, err = run(nova_conf, *(argv + ('--json',)))
    assert status in (0, 1), err
    return status, json.loads(out)


def document_file(tmp_path, minor, major=1):
    """A capability document file of the fleet's GPU family."""
    path = tmp_path / ('gpu-%d.%d.yaml' % (major, minor))
    path.write_text(bench_fleet.document_text(major, minor))
    return str(path)
