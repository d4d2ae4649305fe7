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

"""An openstacksdk connection to Placement from the configuration.

Whichever way it is made (``[placement]`` options or a clouds.yaml
cloud), every answer the connection gets is checked against the shape
Placement documents before openstacksdk turns it into objects (the SDK
coerces what it reads: ``"traits": "X"`` becomes a list, and the reporter
writes back what it read), and every request has the total deadline
``[placement] deadline`` (:func:`nova_vfio_compat.placement.sessions.guard`).
"""

from keystoneauth1 import loading as ks_loading
import openstack
from openstack import connection
import openstack.exceptions

from nova_vfio_compat.conf import placement as placement_conf
from nova_vfio_compat.placement import sessions as placement_sessions


class ConfigurationError(ValueError):
    """The configuration does not say how to reach Placement."""


def connect(conf, cloud=None):
    """A :class:`openstack.connection.Connection` for Placement.

    ``cloud`` (``--os-cloud`` or ``OS_CLOUD`` of a command) or else
    ``[reporter] cloud`` selects a clouds.yaml cloud; otherwise the
    ``[placement]`` keystoneauth options are loaded the way nova loads them
    (``nova.utils.get_sdk_adapter``): auth and session from the group, and
    the SDK reads the adapter options (interfaces, region, endpoint
    override) from the same group.  Either way the connection checks its
    answers and keeps ``[placement] deadline``.
    """
    deadline = conf[placement_conf.GROUP].deadline
    cloud = cloud or conf.reporter.cloud
    if cloud:
        try:
            return check_answers(openstack.connect(cloud=cloud), deadline)
        except openstack.exceptions.ConfigException as e:
            raise ConfigurationError('cloud %s: %s' % (cloud, e))
    group = placement_conf.GROUP
    auth = ks_loading.load_auth_from_conf_options(conf, group)
    if auth is None:
        raise ConfigurationError(
            'neither [reporter] cloud nor [placement] auth_type is set; '
            'point --config-file at the nova.conf of this host or name a '
            'clouds.yaml cloud')
    session = ks_loading.load_session_from_conf_options(conf, group,
                                                        auth=auth)
    placement_conf.register_version_placeholders(conf)
    return check_answers(connection.Connection(
        session=session, oslo_conf=conf, service_types={'placement'}),
        deadline)


def check_answers(conn, deadline=None):
    """Make ``conn`` check every Placement answer it gets; return it.

    :param deadline: the total deadline of each request in seconds; None
        keeps the one ``conn`` has, or the default of ``[placement]
        deadline``.  Idempotent.
    """
    if deadline is None:
        deadline = (placement_sessions.deadline_of(conn) or
                    placement_conf.DEFAULT_DEADLINE)
    return placement_sessions.guard(conn, deadline)
