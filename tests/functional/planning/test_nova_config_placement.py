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

"""``nova-config`` reads the classes in use from the real Placement.

A host laid out as nova-compute does (an mdev parent provider with VGPU,
a PF provider with its VFs' class): a provider with allocations keeps
the class they are in, one without may take the project's; a Placement
that cannot be read is an error unless the operator gave the offline
answer.
"""

import json
import os
import uuid

from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan as nvc_plan
from tests.functional.planning.conftest import run
from tests.functional.reporter import conftest as reporter_conftest
from tests import reporter_devices as rd

HOST = 'cmp1'
GPU = '0000:00:02.0'
PF = '0000:81:00.0'
VF = '0000:81:00.2'
MDEV_TYPE = 'i915-GVTg_V5_8'
OLD_VF_CLASS = 'CUSTOM_OLD_VF'


def _gvt_class():
    return traits.resource_class(publication.typed_document(
        rd.gvt().document, MDEV_TYPE)[0].emits)


def _device_list(tmp_path):
    path = tmp_path / 'devices.yaml'
    path.write_text(
        "devices:\n"
        "  - {address: '%s', kind: mdev_type, mdev_type: %s,\n"
        "     document: '%s'}\n"
        "  - {address: '%s', kind: pci, physfn: '%s', document: '%s'}\n"
        % (GPU, MDEV_TYPE,
           os.path.join(rd.SAMPLES, 'gvt-i915-v1.2-aggr3.yaml'),
           VF, PF, os.path.join(rd.SAMPLES, 'mlx5-vf-fw28.41.yaml')))
    return str(path)


class Host:
    """The providers nova-compute makes for HOST, and allocations."""

    def __init__(self, conn):
        self.conn = conn
        pl = conn.placement
        root = pl.create_resource_provider(name=HOST)
        reporter_conftest.set_traits(conn, root, ['COMPUTE_NODE'])
        self.gpu = self._child(root, nvc_plan.mdev_parent_provider_name(
            HOST, GPU), 'VGPU')
        # Nova's PF provider of the VFs: <nodename>_<PF ADDRESS>.
        self.pf = self._child(root, '%s_%s' % (HOST, PF.upper()),
                              OLD_VF_CLASS)

    def _child(self, root, name, rc):
        pl = self.conn.placement
        if rc.startswith('CUSTOM_'):
            response = pl.put('/resource_classes/%s' % rc,
                              microversion='1.7')
            assert response.status_code in (201, 204), response.text
        child = pl.create_resource_provider(name=name,
                                            parent_provider_uuid=root.id)
        child = pl.get_resource_provider(child.id)
        pl.set_resource_provider_inventories(
            child, {rc: {'total': 4, 'max_unit': 4}},
            resource_provider_generation=child.generation)
        return child.id

    def allocate(self, provider, rc):
        response = self.conn.placement.put(
            '/allocations/%s' % uuid.uuid4(), json={
                'allocations': {provider: {'resources': {rc: 1}}},
                'project_id': 'p', 'user_id': 'u',
                'consumer_generation': None}, microversion='1.28')
        assert response.status_code == 204, response.text


def _nova_config(nova_conf, tmp_path, *options):
    return run(nova_conf, 'nova-config', '--json', '--nodename', HOST,
               '--device-list', _device_list(tmp_path), *options)


def test_a_held_provider_keeps_its_class_a_free_one_changes(
        placement, nova_conf, tmp_path):
    host = Host(placement.conn)
    host.allocate(host.gpu, 'VGPU')
    # No Nova file is given: Placement alone says what is in use.
    status, out, err = _nova_config(nova_conf, tmp_path)
    assert status == 0, err
    result = json.loads(out)
    assert result['config']['mdev_%s' % MDEV_TYPE]['mdev_class'] == 'VGPU'
    (spec,) = result['config']['pci']['device_spec']
    assert spec['resource_class'] != OLD_VF_CLASS
    assert spec['resource_class'].startswith('CUSTOM_VFC_')
    placement_states = result['placement']
    assert placement_states[GPU]['held'] is True
    assert placement_states[GPU]['used'] == {'VGPU': 1}
    assert placement_states[VF] == {
        'provider': '%s_%s' % (HOST, PF.upper()), 'held': False,
        'resource_class': spec['resource_class'], 'used': {}}
    assert 'held: provider %s (1 of 4 VGPU used)' % (
        nvc_plan.mdev_parent_provider_name(HOST, GPU)) in err
    assert 'free to change' in err and VF in err


def test_a_free_gpu_takes_the_projects_class(placement, nova_conf,
                                             tmp_path):
    host = Host(placement.conn)
    host.allocate(host.pf, OLD_VF_CLASS)
    status, out, err = _nova_config(nova_conf, tmp_path)
    assert status == 0, err
    config = json.loads(out)['config']
    assert config['mdev_%s' % MDEV_TYPE]['mdev_class'] == _gvt_class()
    (spec,) = config['pci']['device_spec']
    assert spec['resource_class'] == OLD_VF_CLASS


def test_host_empty_does_not_override_placement(placement, nova_conf,
                                                tmp_path):
    host = Host(placement.conn)
    host.allocate(host.gpu, 'VGPU')
    status, out, err = _nova_config(nova_conf, tmp_path, '--host-empty')
    assert status == 2
    result = json.loads(out)
    # The safe class is printed all the same, and the refusal named.
    assert result['config']['mdev_%s' % MDEV_TYPE]['mdev_class'] == 'VGPU'
    assert any('--host-empty: Placement says' in e and
               nvc_plan.mdev_parent_provider_name(HOST, GPU) in e
               for e in result['errors']), result['errors']


def test_an_unknown_node_is_an_error(placement, nova_conf, tmp_path):
    Host(placement.conn)
    status, out, err = run(nova_conf, 'nova-config', '--nodename', 'nope',
                           '--device-list', _device_list(tmp_path))
    assert status == 2
    assert out == ''
    assert 'nope' in err and 'Placement' in err


def test_unreadable_placement_is_an_error_not_nothing_in_use(
        placement, tmp_path):
    # A [placement] endpoint where nothing listens.
    nova_conf = tmp_path / 'nova.conf'
    nova_conf.write_text('[placement]\nauth_type = admin_token\n'
                         'endpoint = http://127.0.0.1:9\ntoken = admin\n'
                         'deadline = 5\n')
    status, out, err = _nova_config(str(nova_conf), tmp_path)
    assert status == 2
    assert out == ''
    assert 'Placement GET /' in err and '--host-empty' in err
    # The operator's offline answer: printed, with a warning.
    status, out, err = _nova_config(str(nova_conf), tmp_path,
                                    '--resource-class', '%s=VGPU' % GPU)
    assert status == 0, err
    assert json.loads(out)['placement'] is None
    assert 'warning: Placement cannot be read' in err


def test_a_cloud_that_cannot_be_used_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.setenv('OS_CLIENT_CONFIG_FILE', str(tmp_path / 'none.yaml'))
    nova_conf = tmp_path / 'nova.conf'
    nova_conf.write_text('')
    status, out, err = _nova_config(str(nova_conf), tmp_path,
                                    '--os-cloud', 'nosuchcloud')
    assert status == 2
    assert out == ''
    assert 'nosuchcloud' in err
