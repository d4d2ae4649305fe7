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

"""The configuration files the package installs: the sample is what the
generator writes today, the reporter's file is the one the example unit
reads and holds only real options, and setup.cfg installs both."""

import configparser
import os
import re
import shutil
import subprocess
import sys
import zipfile

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from nova_vfio_compat.cmd import reporter as reporter_cmd
from nova_vfio_compat import conf as nvc_conf

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
ETC = os.path.join(REPO, 'etc', 'nova-vfio-compat')
SAMPLE = os.path.join(ETC, 'nova-vfio-compat.conf.sample')
CONF = os.path.join(ETC, 'nova-vfio-compat.conf')
UNIT = os.path.join(REPO, 'etc', 'systemd',
                    'nova-vfio-compat-reporter.service')


def test_the_installed_sample_is_what_the_generator_writes(tmp_path):
    out = tmp_path / 'sample.conf'
    subprocess.run(
        [sys.executable, '-m', 'oslo_config.generator', '--config-file',
         os.path.join(ETC, 'nova-vfio-compat-config-generator.conf'),
         '--output-file', str(out)], cwd=REPO, check=True)
    with open(SAMPLE) as f:
        assert f.read() == out.read_text(), (
            'etc/nova-vfio-compat/nova-vfio-compat.conf.sample is stale: '
            'run "tox -e genconfig" and commit it')


def test_the_reporter_config_has_only_real_options():
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf.register_cli_opts(reporter_cmd.cli_opts)
    conf([], default_config_files=[CONF])
    assert conf.nova.config_files == ['/etc/nova/nova.conf']
    # The auth plugin's own options, which keystoneauth registers once it
    # knows auth_type (the example's is "password").
    password = {o.dest for o in
                ks_loading.get_auth_plugin_conf_options('password')}
    # The commented-out ones too: "#option = value" under a section.
    section = None
    with open(CONF) as f:
        for line in f:
            m = re.match(r'^#?\[(\w+)\]', line)
            if m:
                section = m.group(1)
            m = re.match(r'^#?(\w+) = ', line)
            if m and section:
                assert (m.group(1) in conf[section] or
                        section == 'placement' and m.group(1) in password), (
                    section, m.group(1))


def test_setup_cfg_installs_the_files_the_unit_and_docs_name():
    setup = configparser.ConfigParser()
    setup.read(os.path.join(REPO, 'setup.cfg'))
    lines = setup['files']['data_files'].split('\n')
    installed = {}
    target = None
    for line in filter(None, (x.strip() for x in lines)):
        if '=' in line:
            target, line = (x.strip() for x in line.split('=', 1))
        if line:
            installed.setdefault(target, []).append(line)
    assert installed['etc/nova-vfio-compat'][:2] == [
        'etc/nova-vfio-compat/nova-vfio-compat.conf',
        'etc/nova-vfio-compat/nova-vfio-compat.conf.sample']
    for paths in installed.values():
        for path in paths:
            assert os.path.exists(os.path.join(REPO, path.rstrip('*'))), path
    # The example unit reads the file the package ships.
    with open(UNIT) as f:
        unit = f.read()
    (config,) = re.findall(r'--config-file /etc/nova-vfio-compat/(\S+)',
                           unit)
    assert os.path.isfile(os.path.join(ETC, config))


def test_the_wheel_installs_the_license_and_the_configuration(tmp_path):
    # As pip installs it: pbr builds it in an isolated environment (and
    # leaves setuptools' build directory in the tree).
    build_dir = os.path.join(REPO, 'build')
    had_build_dir = os.path.exists(build_dir)
    try:
        built = subprocess.run(
            [sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '-w',
             str(tmp_path), REPO], capture_output=True, text=True,
            timeout=600)
    finally:
        if not had_build_dir:
            shutil.rmtree(build_dir, ignore_errors=True)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob('*.whl')
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    etc = {n.split('/data/etc/', 1)[1] for n in names if '/data/etc/' in n}
    assert {'nova-vfio-compat/nova-vfio-compat.conf',
            'nova-vfio-compat/nova-vfio-compat.conf.sample'} <= etc
    assert any(n.endswith('.dist-info/licenses/LICENSE') or
               n.endswith('.dist-info/LICENSE') for n in names)
