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

"""Server names and service hosts from Nova's API, when allowed.

GETs of Nova's server and hypervisor lists, nothing else.  When the
connection has no compute endpoint, or its user may not list every
project's servers or the hypervisors, the planning commands show
consumer UUIDs and compute node names instead: a name is a convenience,
not a reason to fail a pre-flight.

Placement names a compute node's root provider after the hypervisor
hostname (the node); Nova's server list filter ``host`` and a live
migration's ``--host`` take the compute *service* host, which may differ
(``[DEFAULT] host`` versus libvirt's hostname).
"""

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


_COMPUTE = {'service_type': 'compute', 'interface': ['internal', 'public']}
# GET /os-hypervisors/detail with the service host in every entry.
HYPERVISORS_MICROVERSION = '2.53'


def service_hosts(conn):
    """``{compute node name: service host}`` from Nova's hypervisor list.

    Empty when Nova's API cannot give it (logged at INFO).
    """
    try:
        response = conn.session.get(
            '/os-hypervisors/detail', endpoint_filter=_COMPUTE,
            headers={'OpenStack-API-Version':
                     'compute %s' % HYPERVISORS_MICROVERSION})
        return {h['hypervisor_hostname']: h['service']['host']
                for h in response.json()['hypervisors']}
    except Exception as e:
        LOG.info('Service hosts are not available from Nova (%s); '
                 'showing compute node names', e)
        return {}


def lookup(conn, host, consumers):
    """``{consumer uuid: server name}`` for the consumers Nova knows.

    Asks the compute endpoint of the connection's service catalog with
    the same keystone session as Placement (the connection itself may be
    limited to Placement, as the reporter's is).

    :param conn: an openstacksdk connection.
    :param host: the compute service host, to list only its servers.
    """
    consumers = set(consumers)
    if not consumers:
        return {}
    try:
        response = conn.session.get(
            '/servers/detail', endpoint_filter=_COMPUTE,
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
