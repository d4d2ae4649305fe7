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

"""How this host's compute node resource provider is found.

In order:

1. ``[reporter] root_provider_uuid``, the operator's explicit choice;
2. the UUID Nova stored in its ``compute_id`` file (Nova 2023.1 and later
   identify the node by it; :func:`compute_conf.read_node_uuid`);
3. ``[reporter] root_provider_name``, the operator's explicit name;
4. the hypervisor hostname, computed exactly as libvirt's
   ``virGetHostname()`` does (Nova's libvirt driver names the node after
   ``virConnectGetHostname()``).
"""

import dataclasses
import socket

from nova_vfio_compat.host import compute_conf as nvc_compute_conf

LOCALHOST = 'localhost'


def hypervisor_hostname(gethostname=socket.gethostname,
                        getaddrinfo=socket.getaddrinfo):
    """The host name the way libvirt's ``virGetHostname()`` computes it.

    The system host name as it is when it starts with ``localhost`` or
    has a dot in it; otherwise the canonical name the resolver gives for
    it (the first answer's), unless there is none, the look-up fails or it
    starts with ``localhost`` (``127.0.0.1 localhost compute1`` in
    /etc/hosts): then the plain host name.  ``socket.getfqdn()`` differs
    (it asks for the reverse name of an address), so it is not used.

    The two functions are parameters so that tests can give the resolver
    answers this machine's /etc/hosts does not.
    """
    name = gethostname()
    if name.startswith(LOCALHOST) or '.' in name:
        return name
    try:
        infos = getaddrinfo(name, None, flags=socket.AI_CANONNAME)
    except OSError:
        return name
    canonical = infos[0][3] if infos else None
    if not canonical or canonical.startswith(LOCALHOST):
        return name
    return canonical


@dataclasses.dataclass(frozen=True)
class RootIdentity:
    """How to find the root provider: by ``uuid`` when set, else ``name``.

    ``how`` says where the identity came from, for messages.
    """

    uuid: str = None
    name: str = None
    how: str = ''

    def describe(self):
        if self.uuid:
            return 'compute node resource provider %s (%s)' % (
                self.uuid, self.how)
        return 'compute node resource provider named %s (%s)' % (
            self.name, self.how)


def root_identity(conf, nova=None):
    """The :class:`RootIdentity` of this host.

    :param nova: :class:`compute_conf.NovaFiles` (for ``compute_id``).
    :raises compute_conf.InvalidNodeIdentity: for a ``compute_id`` file
        Nova would refuse.
    """
    if conf.reporter.root_provider_uuid:
        return RootIdentity(uuid=conf.reporter.root_provider_uuid,
                            how='[reporter] root_provider_uuid')
    if nova is not None:
        found = nvc_compute_conf.read_node_uuid(nova)
        if found is not None:
            return RootIdentity(uuid=found[0], how='Nova\'s %s' % found[1])
    if conf.reporter.root_provider_name:
        return RootIdentity(name=conf.reporter.root_provider_name,
                            how='[reporter] root_provider_name')
    return RootIdentity(name=hypervisor_hostname(),
                        how='the hypervisor hostname, as libvirt computes '
                            'it')


def root_provider_name(conf):
    """``[reporter] root_provider_name``, or :func:`hypervisor_hostname`."""
    return conf.reporter.root_provider_name or hypervisor_hostname()
