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

"""[placement] as nova has it: read from nova.conf, and registrable in the
same process as nova's own (the scheduler filter runs inside nova)."""

import os
import subprocess
import sys

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg
import pytest

from nova_vfio_compat import conf as nvc_conf


NOVA_CONF = """
[placement]
region_name = RegionOne
project_domain_name = Default
project_name = service
auth_type = password
user_domain_name = Default
auth_url = http://keystone.example.com/identity
username = nova
password = secret
valid_interfaces = internal
"""


@pytest.mark.parametrize('first, second', [
    ('nova.conf', 'nova_vfio_compat.conf'),
    ('nova_vfio_compat.conf', 'nova.conf'),
])
def test_coexists_with_novas_placement_group(tmp_path, first, second):
    # Both register on the global cfg.CONF at import, so each order needs
    # a fresh process.
    path = tmp_path / 'nova.conf'
    path.write_text(NOVA_CONF)
    code = (
        'import importlib, sys\n'
        'from oslo_config import cfg\n'
        'importlib.import_module(sys.argv[1])\n'
        'importlib.import_module(sys.argv[2])\n'
        'from nova_vfio_compat.conf import placement\n'
        'cfg.CONF([], default_config_files=[sys.argv[3]])\n'
        'placement.register_version_placeholders(cfg.CONF)\n'
        'p = cfg.CONF.placement\n'
        'print(p.auth_type, p.valid_interfaces, p.region_name, p.version)\n')
    env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING='1')
    done = subprocess.run([sys.executable, '-c', code, first, second,
                           str(path)], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split('\n')[-2] == (
        "password ['internal'] RegionOne None")


def test_reads_the_password_plugin_options_from_nova_conf(tmp_path):
    path = tmp_path / 'nova.conf'
    path.write_text(NOVA_CONF)
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf([], default_config_files=[str(path)])
    auth = ks_loading.load_auth_from_conf_options(conf, 'placement')
    assert auth.auth_url == 'http://keystone.example.com/identity'
    assert auth._username == 'nova'
