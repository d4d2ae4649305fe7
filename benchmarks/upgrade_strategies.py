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

"""The rolling-upgrade strategies that need no Placement.

* :class:`NovaNative`: what Nova checks itself: a vGPU goes to a GPU with
  the same mdev type name; a VF to a VF that is ``live_migratable`` with
  the same PCI vendor/product (every VF here is);
* :class:`TryAndSee`: any destination with the free devices;
* :class:`RulesOracle`: the first destination the ground truth accepts;
  what the project's strategy must match, and a fast stand-in to compare
  upgrade orders with.

A strategy has a ``name``, ``retries`` (whether a migration failed at the
destination is retried on the next host) and ``choose(fleet, server,
options)``, which returns one of ``options`` or None (refused).
"""

from benchmarks import upgrade_ground_truth as truth


class NovaNative:
    """Nova today: the same mdev type name, or the same VF IDs.

    A VF goes to a ``live_migratable`` VF with the same PCI
    vendor/product.
    """

    name = 'Nova-native (same mdev type / live_migratable)'
    retries = True

    def choose(self, fleet, server, options):
        source = fleet.hosts[server.host]
        for host, gpu in options:
            dest = fleet.hosts[host]
            if server.gpu is not None and dest.branch[2] != source.branch[2]:
                continue
            if server.vf and dest.nic.pci[:2] != source.nic.pci[:2]:
                continue
            return host, gpu
        return None


class TryAndSee:
    """Any destination with the free devices; the migration says."""

    name = 'try and see'
    retries = True

    def choose(self, fleet, server, options):
        return options[0] if options else None


class RulesOracle:
    """The first destination the ground truth accepts."""

    name = 'rules (oracle)'
    retries = False

    def choose(self, fleet, server, options):
        for host, gpu in options:
            if truth.compatible(fleet, server, host):
                return host, gpu
        return None
