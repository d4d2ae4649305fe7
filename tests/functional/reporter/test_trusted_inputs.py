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

"""One rule for an input the reporter trusts that cannot be read: what
was published is kept, the error names the input, ``--once`` fails, and
the service logs it once per change.  Real files, directories and FIFOs;
the real Placement."""

import logging
import os
import shutil

from oslo_config import cfg
import pytest

from nova_vfio_compat.cmd import reporter as reporter_cmd
from nova_vfio_compat import conf as nvc_conf
from nova_vfio_compat.host import published_devices
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan
from nova_vfio_compat.reporter import service
from nova_vfio_compat.reporter import sync
from tests.functional.reporter import conftest as c
from tests import reporter_devices as rd

VGPU_RP = plan.mdev_parent_provider_name(c.HOST, rd.VGPU_PARENT)


def _setup(tmp_path, placement):
    """A published vGPU; returns (reporter conf path, paths dict)."""
    c.nova_layout(placement.conn, mdev_parents=[rd.VGPU_PARENT])
    nova_dir = tmp_path / 'nova'
    nova_dir.mkdir()
    nova_conf = nova_dir / 'nova.conf'
    nova_conf.write_text('[devices]\nenabled_mdev_types = nvidia-222\n')
    conf_d = nova_dir / 'nova.conf.d'
    conf_d.mkdir()
    (conf_d / '10-extra.conf').write_text('[DEFAULT]\ndebug = false\n')
    shutil.copy(os.path.join(rd.SAMPLES, 'nvidia-t4-grid16.9-222.yaml'),
                tmp_path / 'doc.yaml')
    devices = tmp_path / 'devices.yaml'
    devices.write_text(
        "devices:\n  - {address: '%s', kind: mdev_type, mdev_type: "
        "nvidia-222, document: doc.yaml}\n" % rd.VGPU_PARENT)
    conf = tmp_path / 'reporter.conf'
    conf.write_text(
        '[placement]\nauth_type = admin_token\nendpoint = %s\n'
        'token = admin\n[reporter]\ndevice_list = %s\n'
        'root_provider_name = %s\n'
        '[nova]\nconfig_files = %s\nconfig_dirs = %s\n'
        % (placement.endpoint, devices, c.HOST, nova_conf, conf_d))
    paths = {'nova.conf': nova_conf, 'nova.conf.d': conf_d,
             'devices.yaml': devices, 'doc.yaml': tmp_path / 'doc.yaml'}
    return str(conf), paths


def _owned(conn, name):
    return {t for t in c.traits_of(conn, name) if traits.is_owned(t)}


def _replace_with_fifo(path):
    path.unlink()
    os.mkfifo(path)


def _replace_with_directory(path):
    path.unlink()
    path.mkdir()


def _remove_directory(path):
    shutil.rmtree(path)


def _not_utf8(path):
    path.write_bytes(b'[devices]\nenabled_mdev_types = nvidia-222\xff\n')


def _garbled(path):
    path.write_text('[devices\nenabled_mdev_types = nvidia-222\n')


def _invalid_for_nova(path):
    # Two types on one GPU: nova-compute refuses to start with it
    # (InvalidLibvirtMdevConfig), so it says nothing of what Nova uses.
    path.write_text('[devices]\nenabled_mdev_types = nvidia-222, '
                    'nvidia-223\n[mdev_nvidia-222]\ndevice_addresses = '
                    '%s\n[mdev_nvidia-223]\ndevice_addresses = %s\n'
                    % (rd.VGPU_PARENT, rd.VGPU_PARENT))


BREAKS = [
    ('nova.conf', os.unlink, 'Nova configuration file'),
    ('nova.conf', _replace_with_fifo, 'FIFO'),
    ('nova.conf', _replace_with_directory, 'a directory'),
    ('nova.conf', _garbled, 'cannot be read as Nova configuration'),
    ('nova.conf', _not_utf8, 'cannot be read as Nova configuration'),
    ('nova.conf', _invalid_for_nova, 'duplicate types for PCI ID'),
    ('nova.conf.d', _remove_directory, 'configuration directory'),
    ('devices.yaml', os.unlink, 'No such file'),
    ('devices.yaml', _replace_with_fifo, 'FIFO'),
    ('doc.yaml', _replace_with_fifo, 'FIFO'),
    ('doc.yaml', os.unlink, 'No such file'),
]


@pytest.mark.parametrize('name, breaker, says', BREAKS,
                         ids=['%s-%s' % (n, getattr(b, '__name__', b))
                              for n, b, _s in BREAKS])
def test_once_keeps_what_was_published_when_an_input_breaks(
        tmp_path, placement, capsys, name, breaker, says):
    conf, paths = _setup(tmp_path, placement)
    assert reporter_cmd.main(['--config-file', conf, '--once']) == 0
    published = rd.published_traits(rd.vgpu())
    assert _owned(placement.conn, c.HOST) == rd.root_traits(rd.vgpu())
    assert _owned(placement.conn, VGPU_RP) == published
    capsys.readouterr()

    breaker(paths[name])
    placement.app.reset()
    status = reporter_cmd.main(['--config-file', conf, '--once'])

    err = capsys.readouterr().err
    assert status == reporter_cmd.EXIT_INVALID, err
    assert str(paths[name]) in err and says in err, err
    assert 'Traceback' not in err
    # Nothing was withdrawn; nothing was even written.
    assert placement.app.writes() == []
    assert _owned(placement.conn, c.HOST) == rd.root_traits(rd.vgpu())
    assert _owned(placement.conn, VGPU_RP) == published


def test_the_service_keeps_the_traits_and_logs_once_per_change(
        tmp_path, placement, caplog):
    conf, paths = _setup(tmp_path, placement)
    opts = cfg.ConfigOpts()
    nvc_conf.register_all(opts)
    opts(['--config-file', conf], project='nova-vfio-compat')
    source, _signal = published_devices.published_source(opts)
    svc = service.Service(sync.Reporter(placement.conn, c.HOST), source)
    assert svc.sync_once() is True
    published = rd.published_traits(rd.vgpu())
    assert _owned(placement.conn, VGPU_RP) == published

    caplog.set_level(logging.DEBUG)
    paths['nova.conf'].unlink()
    for _ in range(3):
        assert svc.sync_once() is False
    _replace_with_fifo(paths['doc.yaml'])
    for _ in range(3):
        assert svc.sync_once() is False
    errors = [r.getMessage() for r in caplog.records
              if r.levelno >= logging.ERROR]
    # One line per change of the problem, not one per attempt.
    assert len(errors) == 1, errors
    assert str(paths['nova.conf']) in errors[0]
    assert _owned(placement.conn, VGPU_RP) == published

    # Only nova.conf back: the FIFO document is the problem now.
    paths['nova.conf'].write_text(
        '[devices]\nenabled_mdev_types = nvidia-222\n')
    caplog.clear()
    assert svc.sync_once() is False
    assert svc.sync_once() is False
    errors = [r.getMessage() for r in caplog.records
              if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(paths['doc.yaml']) in errors[0]

    paths['doc.yaml'].unlink()
    shutil.copy(os.path.join(rd.SAMPLES, 'nvidia-t4-grid16.9-222.yaml'),
                paths['doc.yaml'])
    caplog.clear()
    assert svc.sync_once() is True
    assert any('publishing resumes' in r.getMessage()
               for r in caplog.records)
    assert _owned(placement.conn, VGPU_RP) == published
