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

Pure: the values come from :mod:`nova_vfio_compat.reporter.nova_files`,
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
import re

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
