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

Every answer the connection gets is checked against the shape Placement
documents (:mod:`nova_vfio_compat.placement_answers`) before openstacksdk
turns it into objects: the SDK coerces what it reads (``"traits": "X"``
becomes a list), and the reporter writes back what it read.
"""

import json
from urllib import parse

from keystoneauth1 import loading as ks_loading
import openstack
from openstack import connection
import openstack.exceptions

from nova_vfio_compat.conf import placement as placement_conf
from nova_vfio_compat import placement_answers


class ConfigurationError(ValueError):
    """The configuration does not say how to reach Placement."""


def connect(conf, cloud=None):
    """A :class:`openstack.connection.Connection` for Placement.

    ``cloud`` (``--os-cloud`` or ``OS_CLOUD`` of a command) or else
    ``[reporter] cloud`` selects a clouds.yaml cloud; otherwise the
    ``[placement]`` keystoneauth options are loaded the way nova loads them
    (``nova.utils.get_sdk_adapter``): auth and session from the group, and
    the SDK reads the adapter options (interfaces, region, endpoint
    override) from the same group.
    """
    cloud = cloud or conf.reporter.cloud
    if cloud:
        try:
            return check_answers(openstack.connect(cloud=cloud))
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
        session=session, oslo_conf=conf, service_types={'placement'}))


def _check_response(response, *args, **kwargs):
    """A requests response hook: raise MalformedAnswer for a bad body."""
    if response.status_code != 200 or response.request is None:
        return response
    method = response.request.method
    path = parse.urlsplit(response.request.url).path
    schema = placement_answers.schema_for(method, path)
    if schema is None:
        return response
    what = '%s %s' % (method, path)
    try:
        body = json.loads(response.content)
    except ValueError:
        # Not JSON at all (a proxy's or a login page, a truncated body).
        raise placement_answers.MalformedAnswer(what, 'the body is not JSON')
    except RecursionError:
        raise placement_answers.MalformedAnswer(what, 'nested too deeply')
    placement_answers.check(body, schema, what)
    return response


def check_answers(conn):
    """Make ``conn`` check every Placement answer it gets; return it.

    The check runs as a response hook of the connection's HTTP session,
    before keystoneauth and openstacksdk see the answer, so a malformed
    answer raises :exc:`placement_answers.MalformedAnswer` from the SDK
    call that read it and nothing is built (or written back) from it.
    Idempotent.
    """
    hooks = conn.session.session.hooks.setdefault('response', [])
    if _check_response not in hooks:
        hooks.append(_check_response)
    return conn
