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

"""An openstacksdk connection to Placement from the configuration."""

from keystoneauth1 import loading as ks_loading
import openstack
from openstack import connection

from nova_vfio_compat.conf import placement as placement_conf


class ConfigurationError(ValueError):
    """The configuration does not say how to reach Placement."""


def connect(conf):
    """A :class:`openstack.connection.Connection` for Placement.

    ``[reporter] cloud`` selects a clouds.yaml cloud; otherwise the
    ``[placement]`` keystoneauth options are loaded the way nova loads them
    (``nova.utils.get_sdk_adapter``): auth and session from the group, and
    the SDK reads the adapter options (interfaces, region, endpoint
    override) from the same group.
    """
    if conf.reporter.cloud:
        return openstack.connect(cloud=conf.reporter.cloud)
    group = placement_conf.GROUP
    auth = ks_loading.load_auth_from_conf_options(conf, group)
    if auth is None:
        raise ConfigurationError(
            'neither [reporter] cloud nor [placement] auth_type is set; '
            'point --config-file at the nova.conf of this host or name a '
            'clouds.yaml cloud')
    session = ks_loading.load_session_from_conf_options(conf, group,
                                                        auth=auth)
    if session.timeout is None:
        session.timeout = placement_conf.DEFAULT_TIMEOUT
    placement_conf.register_version_placeholders(conf)
    return connection.Connection(session=session, oslo_conf=conf,
                                 service_types={'placement'})
