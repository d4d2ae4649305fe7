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

"""The name of this host's compute node resource provider."""

import socket


def hypervisor_hostname():
    """The host name the way libvirt's ``virGetHostname()`` computes it.

    Nova's libvirt driver names the compute node (and so its root resource
    provider) after ``virConnectGetHostname()``: the system host name when
    it already has a dot in it, otherwise the canonical name the resolver
    gives for it, otherwise the plain host name.  ``socket.getfqdn()``
    differs (it asks for the reverse name of an address), so it is not
    used.
    """
    name = socket.gethostname()
    if '.' in name:
        return name
    try:
        infos = socket.getaddrinfo(name, None, flags=socket.AI_CANONNAME)
    except OSError:
        return name
    for info in infos:
        canonical = info[3]
        if canonical:
            return canonical
    return name


def root_provider_name(conf):
    """``[reporter] root_provider_name``, or :func:`hypervisor_hostname`."""
    return conf.reporter.root_provider_name or hypervisor_hostname()
