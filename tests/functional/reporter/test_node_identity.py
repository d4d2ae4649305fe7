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

"""The compute node provider found by Nova's compute_id, in a real
Placement, with a root whose name is not this machine's host name."""

import logging
import uuid

from nova_vfio_compat.cmd import reporter as reporter_cmd
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import hostname
from nova_vfio_compat.reporter import plan
from nova_vfio_compat.reporter import service
from nova_vfio_compat.reporter import sync
from tests.functional.reporter import conftest as c
from tests import reporter_devices as rd

NODE = 'node-a.example.net'


def _setup(tmp_path, placement, node_uuid, stored_uuid=None):
    """A Nova-like tree under ``node_uuid``, named NODE.

    Returns the reporter's configuration, with Nova's state_path holding
    ``stored_uuid`` (default: ``node_uuid``).
    """
    pl = placement.conn.placement
    root = pl.create_resource_provider(name=NODE, id=node_uuid)
    child = pl.create_resource_provider(
        name=plan.mdev_parent_provider_name(NODE, rd.VGPU_PARENT),
        parent_provider_uuid=root.id)
    c.set_traits(placement.conn, child, c.NOVA_MDEV_TRAITS)
    state = tmp_path / 'state'
    state.mkdir()
    (state / 'compute_id').write_text((stored_uuid or node_uuid) + '\n')
    nova_conf = tmp_path / 'nova.conf'
    nova_conf.write_text('[DEFAULT]\nstate_path = %s\n[devices]\n'
                         'enabled_mdev_types = nvidia-222\n' % state)
    devices = tmp_path / 'devices.yaml'
    devices.write_text(
        "devices:\n  - {address: '%s', kind: mdev_type, mdev_type: "
        "nvidia-222,\n     document: '%s/nvidia-t4-grid16.9-222.yaml'}\n"
        % (rd.VGPU_PARENT, rd.SAMPLES))
    conf = tmp_path / 'reporter.conf'
    conf.write_text(
        '[placement]\nauth_type = admin_token\nendpoint = %s\n'
        'token = admin\n[reporter]\ndevice_list = %s\n'
        '[nova]\nconfig_files = %s\n' % (placement.endpoint, devices,
                                         nova_conf))
    return str(conf)


def test_root_found_by_compute_id_not_by_host_name(tmp_path, placement):
    assert hostname.hypervisor_hostname() != NODE
    node_uuid = str(uuid.uuid4())
    conf = _setup(tmp_path, placement, node_uuid)

    assert reporter_cmd.main(['--config-file', conf, '--once']) == 0

    for name, expected in (
            (NODE, rd.root_traits(rd.vgpu())),
            (plan.mdev_parent_provider_name(NODE, rd.VGPU_PARENT),
             rd.published_traits(rd.vgpu()))):
        owned = {t for t in c.traits_of(placement.conn, name)
                 if traits.is_owned(t)}
        assert owned == expected, name


def test_unknown_node_uuid_is_said_on_every_sync(tmp_path, placement,
                                                 caplog):
    missing = str(uuid.uuid4())
    conf = _setup(tmp_path, placement, str(uuid.uuid4()),
                  stored_uuid=missing)

    # The service keeps going and says it at ERROR on every sync.  (Before
    # main(), which sets oslo.log up for the process.)
    reporter = sync.Reporter(placement.conn, missing, root_uuid=missing)
    svc = service.Service(reporter, lambda: [rd.vgpu()])
    caplog.set_level(logging.ERROR)
    assert svc.sync_once() is False
    assert svc.sync_once() is False
    errors = [r for r in caplog.records
              if r.levelno == logging.ERROR and missing in r.getMessage()
              and 'not found' in r.getMessage()]
    assert len(errors) >= 2
    assert svc.failure.startswith('resource providers missing')

    assert reporter_cmd.main(['--config-file', conf, '--once']) == 1
