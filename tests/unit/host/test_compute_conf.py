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

"""Nova's configuration files and directories that cannot be read."""

import os

from oslo_config import cfg
import pytest

from nova_vfio_compat.host import compute_conf


def test_a_missing_config_dir_is_an_error_as_for_oslo_config(tmp_path):
    conf = tmp_path / 'nova.conf'
    conf.write_text('[devices]\nenabled_mdev_types = nvidia-222\n')
    missing = tmp_path / 'nova.conf.d'
    # What nova-compute itself does with it: it does not start.
    with pytest.raises(cfg.ConfigDirNotFoundError):
        cfg.ConfigOpts()(['--config-file', str(conf), '--config-dir',
                          str(missing)], project='nova')
    nova = compute_conf.load([str(conf)], [str(missing)])
    assert nova.error and str(missing) in nova.error
    assert nova.mdev_config is None


def test_a_config_dir_that_is_a_file_is_an_error(tmp_path):
    not_a_dir = tmp_path / 'nova.conf.d'
    not_a_dir.write_text('')
    nova = compute_conf.load([], [str(not_a_dir)])
    assert nova.error and str(not_a_dir) in nova.error


@pytest.mark.parametrize('make, says', [
    (os.mkfifo, 'FIFO'),
    (os.mkdir, 'a directory'),
])
def test_a_nova_conf_that_is_no_regular_file_is_refused(tmp_path, make,
                                                        says):
    # A FIFO would block oslo.config's read for good.
    conf = tmp_path / 'nova.conf'
    make(conf)
    nova = compute_conf.load([str(conf)])
    assert str(conf) in nova.error and says in nova.error


def test_a_config_dir_is_read_as_oslo_config_reads_it(tmp_path):
    # oslo.config reads a --config-dir's *.conf in sorted order, and no
    # hidden file: the last one it reads sets the type.
    conf_d = tmp_path / 'nova.conf.d'
    conf_d.mkdir()
    for name, mdev_type in (('10-a.conf', 'nvidia-11'),
                            ('20-b.conf', 'nvidia-12'),
                            ('40-c.conf.orig', 'nvidia-14')):
        (conf_d / name).write_text(
            '[devices]\nenabled_mdev_types = %s\n' % mdev_type)
    (conf_d / '.30-hidden.conf').write_text(
        '[mdev_nvidia-12]\ndevice_addresses = 0000:84:00.0\n')
    oslo = cfg.ConfigOpts()
    oslo.register_opt(cfg.ListOpt('enabled_mdev_types'), group='devices')
    oslo.register_opt(cfg.ListOpt('device_addresses', default=[]),
                      group='mdev_nvidia-12')
    oslo(args=['--config-dir', str(conf_d)], default_config_files=[],
         default_config_dirs=[])
    ours = compute_conf.load(config_dirs=[str(conf_d)])
    assert ours.error is None
    assert ours.mdev_config.enabled_types == tuple(
        oslo.devices.enabled_mdev_types) == ('nvidia-12',)
    assert oslo['mdev_nvidia-12'].device_addresses == []
    assert not ours.mdev_config.device_addresses.get('nvidia-12')
