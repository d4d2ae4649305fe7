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

"""``traits DOC`` prints what the real reporter publishes in Placement.

For each bundled sample, a host whose device has that document: the
reporter command (``--once``, device list, Nova's configuration enabling
the document's mdev type) publishes into the real Placement, and
``nova-vfio-compat traits DOC --json`` with the same configuration must
print exactly the owned traits of the device's provider and a resource
class the reporter created.  A flavor built from ``traits DOC`` (the
recipe of the scheduler docs) then finds the device.
"""

import json
import os
import pathlib

import pytest

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.cmd import reporter as reporter_cmd
from nova_vfio_compat.host import files
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan
from tests.functional.reporter import conftest as c
from tests import reporter_devices as rd

GPU = rd.VGPU_PARENT
# The flavor recipe of the scheduler docs shows this sample's names.
SCHEDULER_DOC = (pathlib.Path(__file__).parents[3] / 'doc' / 'source' /
                 'admin' / 'scheduler.rst')
SCHEDULER_DOC_SAMPLE = 'nvidia-t4-grid16.9-222.yaml'

VGPU_SAMPLES = ['nvidia-t4-grid16.9-222.yaml', 'nvidia-t4-grid17.4-222.json',
                'nvidia-t4-grid17.5-222.yaml', 'gvt-i915-v1.2-aggr3.yaml',
                'gvt-i915-v1.3-type4.yaml']


def _configure(tmp_path, placement, sample, precreated):
    """The reporter's configuration file for one device of ``sample``."""
    path = os.path.join(rd.SAMPLES, sample)
    mdev_type = files.load_document(path).emits.mdev_type
    nova_conf = tmp_path / 'nova.conf'
    devices = tmp_path / 'devices.yaml'
    if mdev_type:
        nova_conf.write_text('[devices]\nenabled_mdev_types = %s\n'
                             '[mdev_%s]\ndevice_addresses = %s\n'
                             % (mdev_type, mdev_type, GPU))
        devices.write_text(
            "devices:\n  - {address: '%s', kind: mdev_type, mdev_type: %s,"
            "\n     document: '%s'}\n" % (GPU, mdev_type, path))
    else:
        nova_conf.write_text('[devices]\n')
        devices.write_text(
            "devices:\n  - {address: '%s', kind: pci, driver: "
            "mlx5_vfio_pci,\n     migration_enabled: true, "
            "document: '%s'}\n" % (rd.VF, path))
    conf = tmp_path / 'reporter.conf'
    conf.write_text(
        '[placement]\nauth_type = admin_token\nendpoint = %s\n'
        'token = admin\n[reporter]\ndevice_list = %s\n'
        'root_provider_name = %s\n'
        '[nova]\nconfig_files = %s\nprecreated_mdev_attrs = %s\n'
        % (placement.endpoint, devices, c.HOST, nova_conf, precreated))
    return str(conf), path, mdev_type


def _printed(capsys, conf, path):
    capsys.readouterr()
    assert cli.main(['--config-file', conf, 'traits', path, '--json']) == 0
    return json.loads(capsys.readouterr().out)


def _owned(conn, name):
    return {t for t in c.traits_of(conn, name) if traits.is_owned(t)}


@pytest.mark.parametrize('precreated', [False, True])
@pytest.mark.parametrize('sample', VGPU_SAMPLES + ['mlx5-vf-fw28.43.yaml'])
def test_traits_prints_what_the_reporter_publishes(tmp_path, placement,
                                                   capsys, sample,
                                                   precreated):
    conf, path, mdev_type = _configure(tmp_path, placement, sample,
                                       precreated)
    gpu_rp = plan.mdev_parent_provider_name(c.HOST, GPU)
    if mdev_type:
        c.nova_layout(placement.conn, mdev_parents=[GPU])
    else:
        c.nova_layout(placement.conn, pci=[rd.VF])

    assert reporter_cmd.main(['--config-file', conf, '--once']) == 0
    printed = _printed(capsys, conf, path)

    # The device's provider (the root for a PCI device: Nova replaces the
    # traits of its own PCI providers) carries exactly the printed names.
    where = gpu_rp if mdev_type else c.HOST
    assert set(printed['traits']) == _owned(placement.conn, where)
    assert printed['traits']
    assert printed['mdev_type'] == mdev_type
    # A vGPU's names include the one naming its type, which reads back.
    assert traits.mdev_types(printed['traits']) == (
        {mdev_type} if mdev_type else set())
    classes = {rc.name for rc in placement.conn.placement.resource_classes()
               if traits.is_owned(rc.name)}
    assert classes == {printed['resource_class']}


@pytest.mark.parametrize('sample', ['nvidia-t4-grid16.9-222.yaml',
                                    'gvt-i915-v1.3-type4.yaml'])
def test_a_flavor_from_traits_doc_finds_the_gpu(tmp_path, placement, capsys,
                                                sample):
    """The scheduler docs' recipe finds the GPU.

    ``resources1:VGPU=1`` and a printed name in the same group, as Nova
    asks Placement; the names the docs show are those printed.
    """
    conf, path, _ = _configure(tmp_path, placement, sample, False)
    c.nova_layout(placement.conn, mdev_parents=[GPU])
    assert reporter_cmd.main(['--config-file', conf, '--once']) == 0
    printed = _printed(capsys, conf, path)
    if sample == SCHEDULER_DOC_SAMPLE:
        text = SCHEDULER_DOC.read_text()
        for name in printed['traits'] + [printed['resource_class']]:
            assert name in text, name

    for name in printed['traits']:
        found = placement.conn.placement.get(
            '/allocation_candidates?resources1=VGPU:1&required1=%s'
            '&group_policy=none' % name, microversion='1.36').json()
        providers = {rp for req in found['allocation_requests']
                     for rp in req['allocations']}
        gpu = next(iter(placement.conn.placement.resource_providers(
            name=plan.mdev_parent_provider_name(c.HOST, GPU))))
        assert providers == {gpu.id}, name


def test_an_untyped_vgpu_document_is_refused_by_name(tmp_path, capsys):
    doc = tmp_path / 'untyped.yaml'
    doc.write_text(
        'self:\n  device_api: vfio-pci\n  vendor: nvidia\n'
        '  version: {major: 16, minor: 9}\n'
        '  vfio-pci: {vendor: 0x10de, device: 0x1eb8, subsystem_vendor: '
        '0x10de, subsystem_device: 0x12a2}\n'
        'compatible:\n  - device_api: vfio-pci\n    vendor: nvidia\n'
        '    version: {major: 16, minor: 9}\n'
        '    vfio-pci: {vendor: 0x10de, device: 0x1eb8, subsystem_vendor: '
        '0x10de, subsystem_device: 0x12a2}\n    mdev_type: nvidia-222\n')
    assert cli.main(['traits', str(doc)]) == 2
    err = capsys.readouterr().err
    assert str(doc) in err
    assert 'names no mdev type' in err and '--mdev-type' in err
    # Given the type, it is published as on a GPU of that type.
    assert cli.main(['traits', str(doc), '--mdev-type', 'nvidia-222',
                     '--json']) == 0
    assert json.loads(capsys.readouterr().out)['mdev_type'] == 'nvidia-222'
