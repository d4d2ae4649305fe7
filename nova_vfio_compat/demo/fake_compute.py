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

"""The demo's stand-in for nova-compute: Placement providers as Nova lays
them out, and the allocations Nova makes for a server.

Only what the demo needs of Nova's behaviour (nova/compute/resource_tracker,
libvirt ``_ensure_pgpu_providers``, ``pci_placement_translator``):

* a root provider named after the host, with Nova's traits;
* a child ``<host>_pci_<addr>`` with VGPU inventory per mdev parent;
* a child ``<host>_<PF ADDR>`` per PF whose VFs are passed through, with
  the resource class and traits the ``[pci] device_spec`` gives them (Nova
  replaces the traits of these providers every period, so the traits come
  from nova.conf, which ``nova-vfio-compat nova-config`` generates).
"""

import uuid

from nova_vfio_compat.reporter import plan as nvc_plan

NOVA_ROOT_TRAITS = ('COMPUTE_NODE', 'OWNER_NOVA', 'HW_CPU_X86_AVX2')
NOVA_MDEV_TRAITS = ('OWNER_NOVA',)
NOVA_PCI_TRAITS = ('COMPUTE_MANAGED_PCI_DEVICE', 'OWNER_NOVA',
                   'HW_PCI_LIVE_MIGRATABLE')
ROOT_INVENTORY = {'VCPU': {'total': 32}, 'MEMORY_MB': {'total': 65536},
                  'DISK_GB': {'total': 500}}
_NS = uuid.UUID('6f0c5e1a-2b43-4c1e-9d0f-1a2b3c4d5e6f')


def provider_uuid(name):
    return str(uuid.uuid5(_NS, name))


def pci_provider_name(host, pf_address):
    """Nova's name of the provider of a PF (PCI in Placement)."""
    return '%s_%s' % (host, pf_address.upper())


def _set_traits(placement, rp_id, names):
    for name in names:
        if name.startswith('CUSTOM_'):
            placement.create_trait(name)
    current = placement.get_resource_provider_trait(rp_id)
    placement.set_resource_provider_trait(current, traits=sorted(names))


def _set_inventory(placement, rp_id, inventories):
    rp = placement.get_resource_provider(rp_id)
    placement.set_resource_provider_inventories(
        rp, inventories, resource_provider_generation=rp.generation)


def lay_out_host(placement, host, gpus, pfs):
    """Create the providers nova-compute would for one host.

    :param gpus: mdev parent PCI addresses.
    :param pfs: ``{pf address: (resource class, traits, VF count)}`` as the
        ``[pci] device_spec`` would give them.
    :returns: ``{provider name: uuid}``.
    """
    made = {}
    root = placement.create_resource_provider(name=host,
                                              id=provider_uuid(host))
    made[host] = root.id
    _set_traits(placement, root.id, NOVA_ROOT_TRAITS)
    _set_inventory(placement, root.id, ROOT_INVENTORY)
    for address in gpus:
        name = nvc_plan.mdev_parent_provider_name(host, address)
        rp = placement.create_resource_provider(
            name=name, id=provider_uuid(name), parent_provider_uuid=root.id)
        made[name] = rp.id
        _set_traits(placement, rp.id, NOVA_MDEV_TRAITS)
        _set_inventory(placement, rp.id,
                       {'VGPU': {'total': 4, 'max_unit': 4}})
    for pf, (resource_class, traits, count) in sorted(pfs.items()):
        name = pci_provider_name(host, pf)
        rp = placement.create_resource_provider(
            name=name, id=provider_uuid(name), parent_provider_uuid=root.id)
        made[name] = rp.id
        placement.put('/resource_classes/%s' % resource_class,
                      microversion='1.7')
        _set_traits(placement, rp.id, set(NOVA_PCI_TRAITS) | set(traits))
        _set_inventory(placement, rp.id, {resource_class: {
            'total': count, 'max_unit': count}})
    return made


def allocate(placement, consumer, allocations):
    """Allocate for a server: ``{rp uuid: {resource class: amount}}``."""
    body = {
        'allocations': {rp: {'resources': res}
                        for rp, res in allocations.items()},
        'project_id': 'demo', 'user_id': 'demo',
        'consumer_generation': None,
    }
    response = placement.put('/allocations/%s' % consumer, json=body,
                             microversion='1.28')
    if response.status_code != 204:
        raise RuntimeError('allocation for %s failed: %s'
                           % (consumer, response.text))
