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

"""Nova's mdev configuration and which mdev type Nova uses on each GPU.

Pure: the values come from :mod:`nova_vfio_compat.host.compute_conf`,
which reads them from nova.conf.  The rules are those of Nova's libvirt
driver (``_get_supported_vgpu_types`` and ``_get_vgpu_type_per_pgpu`` in
``nova/virt/libvirt/driver.py``), which ``tests/nova`` compares this module
with:

* ``[devices] enabled_mdev_types`` lists the types; each has an
  ``[mdev_<type>]`` group whose ``device_addresses`` are the GPUs (PCI
  addresses) that use it;
* the *first* enabled type without ``device_addresses`` is the default
  type of every GPU not listed anywhere; a later type without addresses is
  not used at all (Nova logs a warning and drops it);
* a GPU listed under two types, or an address that is not a PCI address,
  makes nova-compute refuse to start (``InvalidLibvirtMdevConfig``);
* a GPU uses exactly one type; Nova looks addresses up as written (libvirt
  spells them in lower case, as sysfs does).
"""

import dataclasses
import json
import re

from nova_vfio_compat.model import devices as nvc_devices

# nova.pci.utils._PCI_ADDRESS_PATTERN, unescaped dot included.
_PCI_ADDRESS_RE = re.compile(
    r'^([\da-fA-F]{4}):([\da-fA-F]{2}):([\da-fA-F]{2}).([0-7]{1})$')


class InvalidMdevConfig(ValueError):
    """A configuration nova-compute refuses to start with.

    The message names the files and says what Nova says
    (``InvalidLibvirtMdevConfig``).
    """


@dataclasses.dataclass(frozen=True)
class MdevConfig:
    """``[devices] enabled_mdev_types`` and each type's ``device_addresses``.

    ``enabled_types`` in the order of the option; ``device_addresses`` maps
    a type to its tuple of addresses (empty: none given).  ``source`` names
    the files, for messages.
    """

    enabled_types: tuple = ()
    device_addresses: dict = dataclasses.field(default_factory=dict)
    source: str = 'nova.conf'
    # The addresses that are not PCI addresses and name a virtual mdev
    # parent present on the host (``/sys/devices/virtual/<address with
    # '_' as '/'>``, e.g. ``mtty_mtty``), which Nova accepts.
    virtual_parents: frozenset = frozenset()
    # ``[mdev_<type>] mdev_class`` where the files set it (else VGPU), and
    # ``[pci] device_spec`` as :class:`DeviceSpec` values, in order.
    mdev_classes: dict = dataclasses.field(default_factory=dict)
    device_specs: tuple = ()

    def mdev_class(self, mdev_type):
        """The resource class Nova gives GPUs of ``mdev_type``."""
        return self.mdev_classes.get(mdev_type) or DEFAULT_MDEV_CLASS


@dataclasses.dataclass(frozen=True)
class GpuTypes:
    """Which type Nova uses per GPU: the outcome of Nova's rules.

    ``mapping`` maps an address to its type; ``default`` is the type of
    every other GPU (None: those GPUs are not used); ``supported`` is the
    list Nova keeps (``supported_vgpu_types``); ``warnings`` what Nova
    logs.
    """

    mapping: dict
    default: str = None
    supported: tuple = ()
    warnings: tuple = ()

    def type_for(self, address):
        """The type Nova uses on GPU ``address``, or None."""
        if not self.supported:
            return None
        return self.mapping.get(address) or self.default

    def why(self, address):
        """How :meth:`type_for` came to its answer, for messages."""
        if not self.supported:
            return '[devices] enabled_mdev_types is empty: Nova uses no mdevs'
        if address in self.mapping:
            return ('[mdev_%s] device_addresses lists it'
                    % self.mapping[address])
        if self.default:
            return ('%s is the enabled type without device_addresses, the '
                    'default of every GPU not listed' % self.default)
        return ('it is in no [mdev_<type>] device_addresses and no enabled '
                'type is without device_addresses: Nova does not use it')


def is_pci_address(address):
    return bool(_PCI_ADDRESS_RE.match(address))


def gpu_types(config, is_virtual_parent=None):
    """Apply Nova's rules to ``config``.

    :param is_virtual_parent: whether an address that is not a PCI address
        names a virtual mdev parent (``/sys/devices/virtual/...``, e.g.
        mtty), which Nova accepts; by default, whether
        ``config.virtual_parents`` has it.
    :raises InvalidMdevConfig: where nova-compute would not start.
    """
    if is_virtual_parent is None:
        is_virtual_parent = config.virtual_parents.__contains__
    mapping, warnings, default = {}, [], None
    supported = []
    for mdev_type in config.enabled_types:
        supported.append(mdev_type)
        addresses = config.device_addresses.get(mdev_type) or ()
        if not addresses:
            if default is None:
                default = mdev_type
            else:
                warnings.append(
                    '%s: mdev type %s has no device_addresses but %s is '
                    'already the default type; Nova does not use %s'
                    % (config.source, mdev_type, default, mdev_type))
                supported.remove(mdev_type)
            continue
        for address in addresses:
            if address in mapping:
                raise InvalidMdevConfig(
                    '%s: duplicate types for PCI ID %s ([mdev_%s] and '
                    '[mdev_%s] device_addresses); nova-compute refuses to '
                    'start with it (InvalidLibvirtMdevConfig)'
                    % (config.source, address, mapping[address], mdev_type))
            if not is_pci_address(address) and not is_virtual_parent(
                    address):
                raise InvalidMdevConfig(
                    '%s: [mdev_%s] device_addresses: incorrect device '
                    'address: %s; nova-compute refuses to start with it '
                    '(InvalidLibvirtMdevConfig)'
                    % (config.source, mdev_type, address))
            mapping[address] = mdev_type
    return GpuTypes(mapping=mapping, default=default,
                    supported=tuple(supported), warnings=tuple(warnings))


# [mdev_<type>] mdev_class's default (nova/conf/devices.py).
DEFAULT_MDEV_CLASS = 'VGPU'
# The class Nova gives a PCI device without a resource_class tag
# (nova/compute/pci_placement_translator.py, get_resource_class).
_PCI_DEFAULT_CLASS = 'CUSTOM_PCI_%04X_%04X'
_GLOB = frozenset('*?[]')


@dataclasses.dataclass(frozen=True)
class DeviceSpec:
    """One entry of Nova's ``[pci] device_spec`` (a JSON object).

    ``where`` names the files and the entry, for messages.
    """

    tags: dict
    where: str

    @property
    def physical_network(self):
        return self.tags.get('physical_network')


def parse_device_specs(values, source='nova.conf'):
    """``(DeviceSpec values, errors)`` of ``[pci] device_spec`` values.

    As Nova reads them (``nova/pci/whitelist.py``): each value is a JSON
    object or a list of objects.
    """
    specs, errors = [], []
    for index, value in enumerate(values):
        where = '%s: [pci] device_spec #%d' % (source, index + 1)
        try:
            parsed = json.loads(value)
        except ValueError:
            errors.append('%s: not JSON: %s' % (where, value))
            continue
        entries = parsed if isinstance(parsed, list) else [parsed]
        if not all(isinstance(e, dict) for e in entries):
            errors.append('%s: expected a JSON object or a list of them'
                          % where)
            continue
        specs.extend(DeviceSpec(dict(e), where) for e in entries)
    return tuple(specs), errors


def _hex(value):
    try:
        return int(value, 16)
    except (TypeError, ValueError):
        return None


def may_match(spec, device):
    """May ``spec`` match ``device`` in Nova (conservative)?

    False only where it provably does not: another ``vendor_id`` or
    ``product_id`` than the device's, or an exact ``address`` that is
    neither the device's nor its PF's (Nova matches a PF's address to its
    VFs).  Globs, regular expressions and ``devname`` may match anything.
    """
    ids = device.pci_ids or ()
    for key, index in (('vendor_id', 0), ('product_id', 1)):
        wanted = spec.tags.get(key)
        if (isinstance(wanted, str) and len(ids) > index and
                not _GLOB & set(wanted) and _hex(wanted) is not None and
                _hex(wanted) != ids[index]):
            return False
    address = spec.tags.get('address')
    if (isinstance(address, str) and is_pci_address(address) and
            not _GLOB & set(address)):
        mine = {a.lower() for a in (device.address, device.physfn) if a}
        if address.lower() not in mine:
            return False
    return True


def neutron_spec(device, specs):
    """The first spec with a ``physical_network`` that may match ``device``.

    Such a device is a Neutron SR-IOV port: Nova leaves it out of
    Placement, and a spec without the physical network would take it from
    Neutron.  None when there is none.
    """
    for spec in specs:
        if spec.physical_network and may_match(spec, device):
            return spec
    return None


def normalize_resource_class(name):
    """Nova's normalisation of a ``resource_class`` tag."""
    name = name.upper()
    if name.startswith('CUSTOM_') or name in ('PGPU', 'VGPU',
                                              'SRIOV_NET_VF'):
        return name
    return 'CUSTOM_' + re.sub(r'[^0-9A-Z]+', '_', name)


def class_in_use(device, mdev_config):
    """``(resource class Nova gives device today, why)``, or ``(None, why)``.

    From Nova's files: an mdev type's ``mdev_class`` on a GPU Nova uses
    with that type; a PCI device's first ``[pci] device_spec`` that may
    match it (its ``resource_class``, else ``CUSTOM_PCI_<vendor>_<product>``).
    None where Nova does not use the device (no servers can hold it).
    """
    if mdev_config is None:
        return None, 'no Nova configuration was given'
    if device.kind == nvc_devices.KIND_MDEV_TYPE:
        try:
            types = gpu_types(mdev_config)
        except InvalidMdevConfig as e:
            return None, str(e)
        if types.type_for(device.address) is None:
            return None, 'Nova uses no mdev type on %s' % device.address
        used = types.type_for(device.address)
        return (mdev_config.mdev_class(used),
                '[mdev_%s] mdev_class in %s' % (used, mdev_config.source))
    for spec in mdev_config.device_specs:
        if spec.physical_network or not may_match(spec, device):
            continue
        if spec.tags.get('resource_class'):
            return (normalize_resource_class(spec.tags['resource_class']),
                    '%s resource_class' % spec.where)
        if len(device.pci_ids or ()) >= 2:
            return (_PCI_DEFAULT_CLASS % tuple(device.pci_ids[:2]),
                    '%s (no resource_class: Nova\'s default class)'
                    % spec.where)
        return None, '%s matches it but its PCI IDs are unknown' % spec.where
    return None, 'no [pci] device_spec of %s matches it' % mdev_config.source
