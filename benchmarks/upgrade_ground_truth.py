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

"""Whether a live migration of the simulated fleet works: Nova's answer.

``rules.check`` of the source device's document against the
destination's, for each device the server holds, and for a vGPU also the
same mdev type (Nova's libvirt driver creates the destination mdev of the
source's type only; ``check_can_live_migrate_destination`` refuses a type
the destination does not use); for a VF also the same PCI vendor/product
(Nova's PCI request).
"""

from benchmarks import upgrade_fleet as fleet_lib
from nova_vfio_compat.model import rules

_verdicts = {}


def _rules(source, dest):
    key = (id(source), id(dest))
    if key not in _verdicts:
        _verdicts[key] = rules.check(source, dest).compatible
    return _verdicts[key]


def gpu_compatible(source, dest):
    """Can a vGPU of host ``source`` live-migrate onto host ``dest``?

    The rules, and Nova's: the same mdev type.
    """
    return (source.branch[2] == dest.branch[2] and
            _rules(source.document, dest.document))


def vf_compatible(source, dest):
    """Can a VF of host ``source`` live-migrate onto a VF of ``dest``?

    The rules, and Nova's PCI request: the same vendor/product IDs.
    """
    return (source.nic.pci[:2] == dest.nic.pci[:2] and
            _rules(source.nic_document, dest.nic_document))


def failing_devices(fleet, server, host):
    """The device kinds of ``server`` that cannot move to ``host``."""
    source, dest = fleet.hosts[server.host], fleet.hosts[host]
    out = []
    if server.gpu is not None and not gpu_compatible(source, dest):
        out.append(fleet_lib.VGPU)
    if server.vf and not vf_compatible(source, dest):
        out.append(fleet_lib.VF)
    return out


def compatible(fleet, server, host):
    return not failing_devices(fleet, server, host)
