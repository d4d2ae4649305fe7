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

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from nova_vfio_compat import conf as nvc_conf
from nova_vfio_compat.conf import placement as placement_conf


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


def test_the_session_has_a_timeout_unless_one_is_configured(tmp_path):
    path = tmp_path / 'nova.conf'
    path.write_text(NOVA_CONF)
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf([], default_config_files=[str(path)])
    assert conf.placement.timeout == placement_conf.DEFAULT_TIMEOUT
    path.write_text(NOVA_CONF + 'timeout = 7\n')
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf([], default_config_files=[str(path)])
    assert conf.placement.timeout == 7


def test_reads_the_password_plugin_options_from_nova_conf(tmp_path):
    path = tmp_path / 'nova.conf'
    path.write_text(NOVA_CONF)
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf([], default_config_files=[str(path)])
    auth = ks_loading.load_auth_from_conf_options(conf, 'placement')
    assert auth.auth_url == 'http://keystone.example.com/identity'
    assert auth._username == 'nova'
