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

"""``nova-vfio-compat nova-config`` and ``provider-config``."""

import os

import yaml

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan
from tests import reporter_devices as rd


def _device_list(tmp_path, broken=False):
    path = tmp_path / 'devices.yaml'
    text = ("devices:\n"
            "  - {address: '0000:00:02.0', kind: mdev_type,\n"
            "     mdev_type: i915-GVTg_V5_8, document: '%s'}\n"
            "  - {address: '0000:81:00.2', kind: pci, document: '%s'}\n"
            % (os.path.join(rd.SAMPLES, 'gvt-i915-v1.2-aggr3.yaml'),
               os.path.join(rd.SAMPLES, 'mlx5-vf-fw28.41.yaml')))
    if broken:
        text += "  - {address: '0000:82:00.1', document: missing.yaml}\n"
    path.write_text(text)
    return str(path)


def test_nova_config_prints_the_snippets(tmp_path, capsys):
    status = cli.main(['nova-config', '--device-list',
                       _device_list(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0
    assert '[mdev_i915-GVTg_V5_8]' in out
    # The resource class of the document as published (typed).
    published = publication.typed_document(rd.gvt().document,
                                           'i915-GVTg_V5_8')[0]
    assert 'mdev_class = %s' % traits.resource_class(
        published.emits) in out
    assert 'device_spec = {"address": "0000:81:00.2"' in out


def test_nova_config_names_a_broken_device_and_prints_the_rest(
        tmp_path, capsys):
    status = cli.main(['nova-config', '--device-list',
                       _device_list(tmp_path, broken=True)])
    captured = capsys.readouterr()
    assert status == 2
    assert '0000:82:00.1' in captured.err and 'missing.yaml' in captured.err
    assert 'Traceback' not in captured.err
    assert '[mdev_i915-GVTg_V5_8]' in captured.out


def test_provider_config_writes_the_file(tmp_path, capsys):
    out = tmp_path / 'provider_config' / 'vfio.yaml'
    out.parent.mkdir()
    status = cli.main(['provider-config', '--device-list',
                       _device_list(tmp_path), '--nodename', 'cmp1',
                       '--output', str(out)])
    assert status == 0
    assert capsys.readouterr().out == ''
    data = yaml.safe_load(out.read_text())
    names = [p['identification'] for p in data['providers']]
    assert names == [{'uuid': '$COMPUTE_NODE'},
                     {'name': plan.mdev_parent_provider_name(
                         'cmp1', '0000:00:02.0')}]
    assert os.listdir(out.parent) == ['vfio.yaml']


def test_provider_config_unwritable_output(tmp_path, capsys):
    status = cli.main(['provider-config', '--device-list',
                       _device_list(tmp_path), '--nodename', 'cmp1',
                       '--output', str(tmp_path / 'nodir' / 'x.yaml')])
    assert status == 2
    assert 'nodir' in capsys.readouterr().err


def test_bad_device_list_is_one_line(tmp_path, capsys):
    path = tmp_path / 'devices.yaml'
    path.write_text('devices: 3')
    status = cli.main(['nova-config', '--device-list', str(path)])
    err = capsys.readouterr().err
    assert status == 2
    assert str(path) in err and 'Traceback' not in err


def _nova_conf(tmp_path, text):
    path = tmp_path / 'nova.conf'
    path.write_text(text)
    return str(path)


def _gvt_class():
    return traits.resource_class(publication.typed_document(
        rd.gvt().document, 'i915-GVTg_V5_8')[0].emits)


def test_nova_config_keeps_the_class_nova_uses_today(tmp_path, capsys):
    nova = _nova_conf(tmp_path, '[devices]\n'
                      'enabled_mdev_types = i915-GVTg_V5_8\n'
                      '[pci]\n'
                      'device_spec = {"address": "0000:81:00.2", '
                      '"resource_class": "old-class"}\n')
    status = cli.main(['nova-config', '--device-list',
                       _device_list(tmp_path), '--nova-config', nova])
    captured = capsys.readouterr()
    assert status == 0
    # VGPU: [mdev_<type>] mdev_class's default; the spec's class as Nova
    # normalises it.
    assert 'mdev_class = VGPU' in captured.out
    assert '"resource_class": "CUSTOM_OLD_CLASS"' in captured.out
    assert captured.err.count('keeps resource class') == 2
    assert 'drain' in captured.err and '--host-empty' in captured.err


def test_nova_config_on_an_empty_host_changes_the_class(tmp_path, capsys):
    nova = _nova_conf(tmp_path, '[devices]\n'
                      'enabled_mdev_types = i915-GVTg_V5_8\n')
    status = cli.main(['nova-config', '--device-list',
                       _device_list(tmp_path), '--nova-config', nova,
                       '--host-empty'])
    captured = capsys.readouterr()
    assert status == 0
    assert 'mdev_class = %s' % _gvt_class() in captured.out
    assert 'replaces VGPU' in captured.err


def test_nova_config_keeps_a_class_it_is_told(tmp_path, capsys):
    status = cli.main(['nova-config', '--device-list',
                       _device_list(tmp_path),
                       '--resource-class', '0000:00:02.0=CUSTOM_TOLD'])
    captured = capsys.readouterr()
    assert status == 0
    assert 'mdev_class = CUSTOM_TOLD' in captured.out
    assert 'given with --resource-class' in captured.err


def test_nova_config_refuses_a_bad_class(tmp_path, capsys):
    status = cli.main(['nova-config', '--device-list',
                       _device_list(tmp_path),
                       '--resource-class', '0000:00:02.0=lower'])
    assert status == 2
    assert '--resource-class 0000:00:02.0=lower' in capsys.readouterr().err


def test_nova_config_leaves_neutron_ports_alone(tmp_path, capsys):
    nova = _nova_conf(tmp_path, '[pci]\n'
                      'device_spec = {"address": "0000:81:00.2", '
                      '"physical_network": "physnet1"}\n')
    status = cli.main(['nova-config', '--device-list',
                       _device_list(tmp_path), '--nova-config', nova])
    captured = capsys.readouterr()
    assert status == 2
    assert 'device_spec' not in captured.out
    assert '0000:81:00.2' in captured.err and 'physnet1' in captured.err


def test_nova_config_warns_below_novas_libvirt_and_qemu(tmp_path, capsys):
    virsh = tmp_path / 'virsh-version.txt'
    virsh.write_text('Using library: libvirt 9.0.0\n'
                     'Running hypervisor: QEMU 8.2.2\n')
    status = cli.main(['nova-config', '--device-list',
                       _device_list(tmp_path), '--virsh-version',
                       str(virsh)])
    err = capsys.readouterr().err
    assert status == 0
    assert 'libvirt >= 10.0.0 and QEMU >= 8.2.2' in err
    assert 'this host has libvirt 9.0.0' in err
    virsh.write_text('Using library: libvirt 10.0.0\n'
                     'Running hypervisor: QEMU 8.2.2\n')
    cli.main(['nova-config', '--device-list', _device_list(tmp_path),
              '--virsh-version', str(virsh)])
    assert 'libvirt >=' not in capsys.readouterr().err


def test_a_virsh_version_fifo_is_refused_without_blocking(tmp_path, capsys):
    # A FIFO with no writer would block an open() for reading forever.
    virsh = tmp_path / 'virsh-version'
    os.mkfifo(virsh)
    status = cli.main(['nova-config', '--device-list',
                       _device_list(tmp_path), '--virsh-version',
                       str(virsh)])
    err = capsys.readouterr().err
    assert status == 0
    assert '%s: ' % virsh in err and 'FIFO' in err
