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

"""The desired Placement state of one host, computed from its devices.

Pure: no I/O.  Where the traits go follows who owns what in Placement:

* the compute node root provider (named after the hypervisor hostname)
  gets the union of the traits of every PCI device of the host that fits
  under ``[traits] max_traits_per_provider``
  (:func:`nova_vfio_compat.model.publication.fit_root`); Nova keeps custom
  traits set on it by others;
* an mdev parent provider, which Nova's libvirt driver creates and names
  ``<nodename>_pci_<address with ':' and '.' as '_'>``, gets the union of
  the traits of the mdev types of that parent, and no other provider has
  them (Placement returns every provider's traits with each allocation
  candidate: a copy on the root would weigh on every scheduling
  request); Nova only ever adds traits there, so they survive;
* a ``KIND_PCI`` device contributes to the root only: Nova replaces the
  traits of its own PCI providers every period, so their traits reach Nova
  through the generated ``[pci] device_spec`` instead
  (:mod:`nova_vfio_compat.reporter.generated_config`).

Only trait names for which :func:`traits.is_owned` holds are ever in a
plan or a diff.
"""

import dataclasses

from nova_vfio_compat.model import device_config
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits as nvc_traits


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the reporter wants Placement to hold for one host.

    ``providers`` maps a provider name to the complete set of owned traits
    it should carry (the root first).  ``resource_classes`` are the custom
    resource classes that must exist.  ``errors`` has one line per device
    or provider that cannot be published, naming it.  ``left_out`` names
    each PCI device left out because its traits do not fit on the root
    provider (with its stream; :func:`publication.fit_root`, under
    ``max_traits``): what fits is published, and this says what did not.
    ``nodename`` is the root's name.
    """

    nodename: str
    providers: dict
    resource_classes: frozenset = frozenset()
    errors: tuple = ()
    left_out: tuple = ()
    max_traits: int = nvc_traits.DEFAULT_MAX_TRAITS

    @property
    def message(self):
        """The line naming what is left out ('' when nothing is)."""
        return self.left_out and publication.left_out_message(
            self.left_out, self.max_traits) or ''

    def desired(self, provider_name):
        """The owned traits ``provider_name`` should carry.

        Empty if the plan does not name it (a device that went away), so
        that the owned traits it still carries are removed.
        """
        return self.providers.get(provider_name, frozenset())

    def is_managed(self, provider_name):
        """Does this plan decide the owned traits of ``provider_name``?

        True for the root and for every mdev parent provider of it, even
        one whose devices are gone, so that their traits are removed; a
        virtual parent's only while it is planned (its name does not tell
        it from another agent's provider).
        """
        return (provider_name == self.nodename or
                provider_name.startswith(mdev_parent_prefix(self.nodename))
                or provider_name in self.providers)


def mdev_parent_prefix(nodename):
    return '%s_pci_' % nodename


def mdev_parent_provider_name(nodename, address):
    """Nova's name for the provider of mdev parent ``address``.

    libvirt ``_ensure_pgpu_providers`` names it ``<nodename>_<pgpu_dev_id>``,
    the dev id being ``pci_`` plus the address with ':' and '.' as '_';
    for a virtual parent (``mtty_mtty``, configured by its libvirt name)
    the address itself (``_get_device_address``).
    """
    if not device_config.is_pci_address(address):
        return '%s_%s' % (nodename, address)
    return mdev_parent_prefix(nodename) + address.replace(
        ':', '_').replace('.', '_')


def device_traits(device, max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """The traits and resource class of one device.

    ``device`` is a :class:`publication.PublishedDevice` (a bare device is
    taken as it is, :func:`publication.as_published`).

    :raises ValueError: naming the device when it has no document or its
        document expands to more than ``max_traits`` traits.
    """
    published = publication.as_published(device, max_traits)
    if published.problem is not None:
        raise ValueError('device %s: %s; not published'
                         % (published.name, published.problem))
    try:
        nvc_traits.check_limit(published.traits, published.document.source,
                               max_traits)
    except nvc_traits.TraitLimitExceeded as e:
        raise ValueError('device %s: %s; not published'
                         % (published.name, e)) from e
    return published.traits, published.resource_class


def build(devices, nodename, max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """The :class:`Plan` for ``devices`` under root provider ``nodename``.

    ``devices`` are :class:`publication.PublishedDevice` values (bare
    devices are taken as they are); those left out on purpose (a
    ``reason``) are not planned, and those left out for the root's limit
    (``over_limit``) are named in ``left_out``.  A device without a
    document, or over ``max_traits``, is reported in ``errors`` and left
    out; the others are still planned.  The root carries the traits of
    the PCI devices that fit on it (:func:`publication.fit_root`), the
    others are named in ``left_out``; an mdev type's are on its GPU's
    provider (Nova's name for it).  An mdev parent provider
    whose union goes over ``max_traits`` is reported and planned with no
    owned traits: publishing a truncated set would make claims that are
    not true, and none is the conservative answer.
    """
    errors, left_out, planned = [], [], []
    for device in devices:
        try:
            published = publication.as_published(device, max_traits)
            if published.over_limit:
                left_out.append(publication.named_with_stream(published))
            if published.reason is not None:
                continue
            device_traits(published, max_traits)
        except ValueError as e:
            errors.append(str(e))
            continue
        except Exception as e:
            # One device that cannot be planned (a bug, or a document
            # built around the validation) must not stop the others.
            errors.append('device %s: its traits cannot be computed (%s: '
                          '%s); not published' % (
                              getattr(device, 'name', device),
                              type(e).__name__, e))
            continue
        planned.append(published)
    fit = publication.fit_root(planned, max_traits)
    left_out.extend(publication.named_with_stream(d) for d in fit.left_out)
    providers = {nodename: fit.traits}
    parents = {}
    for published in planned:
        if published.kind == nvc_devices.KIND_MDEV_TYPE:
            name = mdev_parent_provider_name(nodename, published.address)
            parents.setdefault(name, set()).update(published.traits)
    for name, names in sorted(parents.items()):
        try:
            nvc_traits.check_limit(names, 'resource provider %s' % name,
                                   max_traits)
        except nvc_traits.TraitLimitExceeded as e:
            errors.append('%s; publishing none of its traits' % e)
            names = ()
        providers[name] = frozenset(names)
    out = {id(d) for d in fit.left_out}
    classes = frozenset(d.resource_class for d in planned
                        if id(d) not in out)
    return Plan(nodename=nodename, providers=providers,
                resource_classes=classes, errors=tuple(errors),
                left_out=tuple(left_out), max_traits=max_traits)


def diff(current_traits, desired_owned):
    """Return ``(to_add, to_remove)`` for one provider.

    They turn ``current_traits`` into a set whose owned part is
    ``desired_owned``.

    Traits that are not owned are never in either set, whatever
    ``desired_owned`` holds.
    """
    current = frozenset(current_traits)
    desired = frozenset(n for n in desired_owned if nvc_traits.is_owned(n))
    owned_now = frozenset(n for n in current if nvc_traits.is_owned(n))
    return desired - owned_now, owned_now - desired


def apply(current_traits, to_add, to_remove):
    """The provider's whole trait set after the diff.

    A traits PUT replaces the set, so what is not ours is carried over.
    """
    return (frozenset(current_traits) | frozenset(to_add)) - frozenset(
        n for n in to_remove if nvc_traits.is_owned(n))
