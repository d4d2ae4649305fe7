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

"""Server names from Nova's API, when the credentials allow it.

A GET of Nova's server list, nothing else.  When the connection has no
compute endpoint, or its user may not list every project's servers, the
planning commands show consumer UUIDs instead: a name is a convenience,
not a reason to fail a pre-flight.
"""

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


def lookup(conn, host, consumers):
    """``{consumer uuid: server name}`` for the consumers Nova knows.

    Asks the compute endpoint of the connection's service catalog with
    the same keystone session as Placement (the connection itself may be
    limited to Placement, as the reporter's is).

    :param conn: an openstacksdk connection.
    :param host: the compute host, to list only its servers.
    """
    consumers = set(consumers)
    if not consumers:
        return {}
    endpoint_filter = {'service_type': 'compute',
                       'interface': ['internal', 'public']}
    try:
        response = conn.session.get(
            '/servers/detail', endpoint_filter=endpoint_filter,
            params={'all_tenants': 1, 'host': host})
        servers = response.json()['servers']
        return {s['id']: s['name'] for s in servers if s['id'] in consumers}
    except Exception as e:
        # Any failure of an optional read (no compute service in the
        # catalog, forbidden, unreachable, not Nova's answer) leaves the
        # UUIDs.
        LOG.info('Server names are not available from Nova (%s); '
                 'showing consumer UUIDs', e)
        return {}
