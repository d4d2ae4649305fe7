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


"""The per-host decision of :class:`VFIOCompatFilter`, with no Nova in it.

The filter gathers, once per live-migration request, the source device
providers (with their traits and the resource classes they hold for the
server) and, for each stream they emit, which providers accept it.  This
module turns that into a verdict per host and per allocation candidate.

What passes:

* a host passes when, for every source device provider, every stream it
  emits is accepted by some provider in the host's tree (its GPUs, and
  the compute node root for its PCI devices, whose traits it carries);
* an allocation candidate passes when every device (non-root) provider in
  it accepts every stream of each source device it could receive: the
  source devices that hold a resource class this provider provides in the
  candidate (Nova maps mdevs and PCI devices by type, not one to one, so a
  device that could receive any of them must accept all of them);
* a candidate with no device provider leaves the decision to the host.

Only device providers are the server's devices (:func:`is_device`): a
network bandwidth provider, a sharing storage provider or any other
provider the server holds resources on is neither a source nor a
destination device.

Where Nova claims any device of a matching PCI pool rather than the one
Placement chose (flavor PCI requests without ``[filter_scheduler]
pci_in_placement``), pruning candidates chooses nothing: a host passes
only if every pool Nova may claim from accepts the streams
(:meth:`Streams.pool_rejections`).

Which providers accept a stream is Placement's answer to "any of
:func:`nova_vfio_compat.model.traits.accept_traits_for`", the names the rest of
the project tests with :func:`nova_vfio_compat.model.traits.unaccepted`, so the
filter and the rule engine cannot drift apart (the property tests hold
both to the rules).  Per host, :meth:`Streams.check` is then a set lookup
for the host and one per candidate device, and the reasons
(:meth:`Streams.decide`) are only worked out for the log lines that show
them.
"""

import collections
import dataclasses

import os_resource_classes as orc

from nova_vfio_compat.model import traits as nvc_traits

# Resource classes of devices that can carry a migration stream: standard
# ones (os-resource-classes), Nova's PCI in Placement default class
# (CUSTOM_PCI_<vendor>_<product>) and the reporter's own classes, which
# operators use as Nova's mdev_class or device_spec resource_class.
DEVICE_RESOURCE_CLASSES = frozenset([
    orc.VGPU, orc.VGPU_DISPLAY_HEAD, orc.PGPU, orc.PCI_DEVICE,
    orc.SRIOV_NET_VF, orc.FPGA])
DEVICE_RESOURCE_CLASS_PREFIXES = ('CUSTOM_PCI_', nvc_traits.PREFIX)


# Nova's traits on the providers it creates: its PCI devices ([pci]
# report_in_placement), and every provider it owns (the root, GPUs, PCI
# devices, the memory encryption context).
NOVA_PCI_TRAIT = 'COMPUTE_MANAGED_PCI_DEVICE'
NOVA_OWNER_TRAIT = 'OWNER_NOVA'
# Classes of non-root providers Nova owns that are not devices.
NOT_DEVICE_CLASSES = frozenset([orc.MEM_ENCRYPTION_CONTEXT])


def is_device(traits, classes, extra=()):
    """Whether a non-root provider a server holds ``classes`` on is a device.

    It is one when it holds a device class (:func:`is_device_class`),
    carries a stream this project publishes (an emit trait, whatever its
    resource class: a GPU with a custom ``[mdev_<type>] mdev_class``), is
    one of Nova's PCI device providers (whatever ``[pci] device_spec``
    ``resource_class`` says), or is another provider Nova owns (a GPU)
    that is not its memory encryption context.
    """
    if any(is_device_class(rc, extra) for rc in classes):
        return True
    if nvc_traits.emitted(traits) or NOVA_PCI_TRAIT in traits:
        return True
    return NOVA_OWNER_TRAIT in traits and not (
        frozenset(classes) <= NOT_DEVICE_CLASSES)


def is_device_class(name, extra=()):
    """Whether resource class ``name`` is a device's.

    ``extra`` names more device classes (the operator's own, from
    ``[vfio_compat_filter] device_resource_classes``).  Bandwidth
    (``NET_BW_*``, ``NET_PACKET_RATE_*``), ``DISK_GB`` and the like are
    not devices: a server holding them is not checked for them.
    """
    return (name in DEVICE_RESOURCE_CLASSES or name in extra or
            name.startswith(DEVICE_RESOURCE_CLASS_PREFIXES))


@dataclasses.dataclass(frozen=True)
class SourceDevice:
    """A provider on the source host that holds a device of the server.

    ``traits`` is the provider's whole trait set; ``resource_classes`` the
    classes the server's allocation holds on it.
    """

    uuid: str
    name: str
    traits: frozenset
    resource_classes: frozenset = frozenset()

    @property
    def streams(self):
        """The emit traits of this device: the streams it sends."""
        return nvc_traits.emitted(self.traits)

    @property
    def nova_pci(self):
        """Whether this is one of Nova's PCI device providers."""
        return NOVA_PCI_TRAIT in self.traits

    def describe(self):
        return '%s (%s)' % (self.name, self.uuid) if self.name else self.uuid


@dataclasses.dataclass(frozen=True)
class ClaimablePool:
    """A PCI device pool of a host Nova may claim a server's device from.

    ``provider`` is the pool's resource provider (its PF or device), None
    when the host does not report it to Placement; ``address`` the
    pool's PF or device address; ``resource_class`` the class of the PCI
    request it may serve (Nova's ``[pci] alias`` ``resource_class``, or
    its default ``CUSTOM_PCI_<vendor>_<product>``).
    """

    provider: str
    address: str
    resource_class: str = None


@dataclasses.dataclass(frozen=True)
class PoolRejection:
    """A pool Nova may claim from that refuses a stream.

    Or whose devices cannot be shown to accept it (no provider).
    """

    pool: ClaimablePool
    source: SourceDevice
    stream: str = None

    def __str__(self):
        return self.describe()

    def describe(self):
        if self.pool.provider is None:
            return ('PCI device pool %s, which Nova may claim from, has no '
                    'resource provider ([pci] report_in_placement is off '
                    'on the host): whether it accepts streams of source '
                    'provider %s cannot be checked'
                    % (self.pool.address, self.source.describe()))
        return ('PCI device pool %s (provider %s), which Nova may claim '
                'from, does not accept stream %s emitted by source '
                'provider %s' % (self.pool.address, self.pool.provider,
                                 self.stream, self.source.describe()))


@dataclasses.dataclass(frozen=True)
class Rejection:
    """Why a host or a candidate cannot receive one stream.

    ``provider`` is the destination device provider that refuses the
    stream, or None when no provider of the host's tree accepts it.
    """

    stream: str
    source: SourceDevice
    provider: str = None

    def __str__(self):
        # Log lines format a Rejection only when they are emitted.
        return self.describe()

    def describe(self):
        if self.provider is None:
            return ('no provider accepts stream %s emitted by source '
                    'provider %s' % (self.stream, self.source.describe()))
        return ('device provider %s does not accept stream %s emitted by '
                'source provider %s' % (self.provider, self.stream,
                                        self.source.describe()))


@dataclasses.dataclass
class HostDecision:
    """The verdict for one host.

    ``keep`` is the list of allocation candidates to keep (every one when
    no candidate was pruned); ``rejections`` says why the host failed, or
    why candidates were pruned.
    """

    passes: bool
    keep: list
    rejections: list


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why a host was rejected, as a request's summary counts hosts.

    ``streams`` are the streams no provider of the host's tree accepts;
    empty when the tree accepts them all but none of the host's
    allocation candidates has devices that do.
    """

    streams: tuple = ()
    pools: bool = False

    def describe(self):
        if self.pools:
            return ('a PCI device pool Nova may claim from does not accept '
                    'the streams (without [filter_scheduler] '
                    'pci_in_placement Nova claims any device of a matching '
                    'pool)')
        if self.streams:
            return 'no provider of the host accepts stream%s %s' % (
                's' if len(self.streams) > 1 else '',
                ', '.join(self.streams))
        return ('no allocation candidate of the host has devices that '
                'accept the streams')


CANDIDATES_REFUSE = Reason()
POOLS_REFUSE = Reason(pools=True)


class Streams:
    """What the filter learned about one live-migration request.

    :param sources: the :class:`SourceDevice` s that emit at least one
        stream.
    :param accepting: maps each emit trait (a stream) to ``{provider
        uuid: root provider uuid}`` of the providers that accept it (a
        stream nobody accepts maps to an empty dict or is absent), as
        :meth:`.placement_reads.RequestReads.accepting` reads it.
    """

    def __init__(self, sources, accepting):
        self.sources = tuple(s for s in sources if s.streams)
        self.accepting = accepting
        by_provider = collections.defaultdict(set)
        by_root = collections.defaultdict(set)
        for stream, providers in accepting.items():
            for provider, root in providers.items():
                by_provider[provider].add(stream)
                by_root[root].add(stream)
        # The streams each provider, and each tree, accepts.  Per host and
        # candidate what is left is a subset test; the reasons are only
        # worked out for a host that fails.
        self._provider_accepts = {p: frozenset(s)
                                  for p, s in by_provider.items()}
        self._tree_accepts = {r: frozenset(s) for r, s in by_root.items()}
        self._needs = tuple((source, source.streams)
                            for source in self.sources)
        self._all_needed = frozenset().union(
            *(needs for _, needs in self._needs))
        # The per-host path (check()): one subset test per source for
        # each distinct set of accepted streams, then set lookups.
        # Providers of one device model and driver accept the same
        # streams, so there are few distinct sets.
        self._accepted_by = {}
        self._reasons = {}
        every = frozenset(range(len(self.sources)))
        self._ok_roots = frozenset(
            root for root, accepted in self._tree_accepts.items()
            if self._sources_accepted(accepted) == every)
        holders = collections.defaultdict(set)
        for index, source in enumerate(self.sources):
            for rc in source.resource_classes:
                holders[rc].add(index)
        # {resource class: the providers that accept every stream of
        # every source device holding that class}.
        self._ok_by_class = {
            rc: frozenset(provider for provider, accepted
                          in self._provider_accepts.items()
                          if held <= self._sources_accepted(accepted))
            for rc, held in holders.items()}

    def _sources_accepted(self, accepted):
        """Indexes of the sources all of whose streams are ``accepted``."""
        found = self._accepted_by.get(accepted)
        if found is None:
            found = self._accepted_by[accepted] = frozenset(
                i for i, source in enumerate(self.sources)
                if source.streams <= accepted)
        return found

    @property
    def accepting_roots(self):
        """Root providers whose tree accepts every stream."""
        return self._ok_roots

    def check(self, root_uuid, candidates):
        """The per-host test, without reasons: ``(passes, kept)``.

        ``kept`` is the list of the candidates to keep when some are
        pruned, None when none is (or the host fails).  It agrees with
        :meth:`decide`, which also says why.

        :param candidates: a list of allocation candidates, as for
            :meth:`decide`.
        """
        if root_uuid not in self._ok_roots:
            return False, None
        ok_by_class = self._ok_by_class
        kept = None
        index = 0
        for candidate in candidates:
            # Inlined (no call per candidate): this loop is most of the
            # filter's cost per host.
            refused = False
            for provider, alloc in candidate['allocations'].items():
                if provider != root_uuid:
                    for rc in alloc.get('resources', ()):
                        accepting = ok_by_class.get(rc)
                        if accepting is not None and \
                                provider not in accepting:
                            refused = True
                            break
                    if refused:
                        break
            if refused:
                if kept is None:
                    kept = candidates[:index]
            elif kept is not None:
                kept.append(candidate)
            index += 1
        if kept is None:
            return True, None
        return bool(kept), kept

    def reason(self, root_uuid):
        """The :class:`Reason` a host that :meth:`check` failed fails for."""
        if root_uuid in self._ok_roots:
            return CANDIDATES_REFUSE
        accepted = self._tree_accepts.get(root_uuid, frozenset())
        found = self._reasons.get(accepted)
        if found is None:
            found = self._reasons[accepted] = Reason(tuple(sorted(
                self._all_needed - accepted)))
        return found

    def pool_rejections(self, pools):
        """Why Nova may claim a device that does not accept a stream.

        For the source devices Nova claims by pool (its PCI providers,
        when the request has no Placement group for them): every pool in
        ``pools`` (:class:`ClaimablePool`) must accept every stream of the
        source devices of its resource class (of every such source device
        when none has its class).  An empty list when they all do.
        """
        pci_sources = [s for s in self.sources if s.nova_pci]
        rejections = []
        for pool in pools:
            served = [s for s in pci_sources
                      if pool.resource_class in s.resource_classes]
            for source in served or pci_sources:
                if pool.provider is None:
                    rejections.append(PoolRejection(pool, source))
                    continue
                accepted = self._provider_accepts.get(pool.provider,
                                                      frozenset())
                rejections.extend(
                    PoolRejection(pool, source, stream)
                    for stream in sorted(source.streams - accepted))
        return rejections

    def accepting_count(self, stream):
        """How many providers accept ``stream`` (an emit trait)."""
        return len(self.accepting.get(stream, ()))

    @property
    def emitted(self):
        """Every stream the source sends."""
        return frozenset().union(*(s.streams for s in self.sources))

    def host_rejections(self, root_uuid):
        """The streams no provider in the tree of ``root_uuid`` accepts."""
        tree = self._tree_accepts.get(root_uuid, frozenset())
        if self._all_needed <= tree:
            return []
        return [Rejection(stream, source)
                for source, needs in self._needs
                for stream in sorted(needs - tree)]

    def candidate_rejections(self, root_uuid, candidate):
        """Why allocation candidate ``candidate`` cannot receive the server.

        ``candidate`` has Placement's allocation request shape
        (``{'allocations': {rp_uuid: {'resources': {...}}}, ...}``).
        """
        rejections = []
        for provider, alloc in candidate['allocations'].items():
            if provider == root_uuid:
                continue
            dest = self._provider_accepts.get(provider, frozenset())
            if self._all_needed <= dest:
                continue
            classes = alloc.get('resources', {}).keys()
            for source, needs in self._needs:
                if needs <= dest or source.resource_classes.isdisjoint(
                        classes):
                    continue
                rejections.extend(
                    Rejection(stream, source, provider)
                    for stream in sorted(needs - dest))
        rejections.sort(key=lambda r: (r.provider, r.stream))
        return rejections

    def decide(self, root_uuid, candidates):
        """The :class:`HostDecision` for the host whose root is given."""
        rejections = self.host_rejections(root_uuid)
        if rejections:
            return HostDecision(False, [], rejections)
        keep = []
        for candidate in candidates:
            refused = self.candidate_rejections(root_uuid, candidate)
            if not refused:
                keep.append(candidate)
            for rejection in refused:
                if rejection not in rejections:
                    rejections.append(rejection)
        passes = bool(keep) or not candidates
        return HostDecision(passes, keep, rejections)
