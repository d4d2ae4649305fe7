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

"""The Placement reads of one live-migration request, with no Nova in it.

:class:`RequestReads` takes a ``get(url, microversion)`` callable that
returns the decoded JSON body or raises
:exc:`nova_vfio_compat.placement.reader.PlacementUnavailable`: the filter
passes a reader on Nova's report client, the demo one on openstacksdk.
Every body is checked by the one policy of
:class:`nova_vfio_compat.placement.reader.Reader` before it is used (a
callable that is not a reader is made one); a malformed answer is
:exc:`PlacementUnavailable` too.  Its number of requests depends
on the source devices and their streams, and on the number of candidate
hosts only where the caller asks about their trees alone
(:meth:`RequestReads.accepting`).
"""

from urllib import parse

from nova_vfio_compat.model import traits as nvc_traits
from nova_vfio_compat.placement import reader as placement_reader
from nova_vfio_compat.placement import version as placement_version
from nova_vfio_compat.selection import decision

# Allocations with the provider generation and consumer fields.
ALLOCATIONS_MICROVERSION = '1.28'
# GET /resource_providers answers with root_provider_uuid from 1.14 and
# accepts required=<traits> from 1.18.
PROVIDERS_MICROVERSION = '1.18'
# What Nova asks allocation candidates at (its SAME_SUBTREE_VERSION).
CANDIDATES_MICROVERSION = '1.36'


class RequestReads:
    """What one live-migration request needs to know from Placement."""

    def __init__(self, get):
        self._get = placement_reader.checking(get)

    def source_devices(self, consumer, root, device_classes=()):
        """The device providers ``consumer`` holds resources on.

        Only providers in the tree of ``root`` (the source compute node)
        other than the root that are devices (:func:`decision.is_device`:
        a device resource class, with ``device_classes`` as the
        operator's own, an emit trait, or a Nova PCI or GPU provider) are
        the server's devices: a bandwidth provider of a QoS port or a
        sharing storage provider is not.

        :returns: a list of :class:`decision.SourceDevice`, with each
            provider's name, whole trait set and the resource classes the
            consumer holds on it (whether or not it emits a stream).
        """
        allocations = self._get('/allocations/%s' % consumer,
                                ALLOCATIONS_MICROVERSION,
                                route='allocations')['allocations']
        held = {uuid: frozenset(alloc.get('resources', {}))
                for uuid, alloc in allocations.items() if uuid != root}
        if not held:
            return []
        names = {rp['uuid']: rp['name'] for rp in self._get(
            '/resource_providers?in_tree=%s' % root,
            PROVIDERS_MICROVERSION, route='providers')['resource_providers']}
        sources = []
        for uuid in sorted(u for u in held if u in names):
            traits = frozenset(self._get(
                '/resource_providers/%s/traits' % uuid,
                placement_reader.TRAITS_MICROVERSION,
                route='provider traits')['traits'])
            if decision.is_device(traits, held[uuid], device_classes):
                sources.append(decision.SourceDevice(
                    uuid, names[uuid], traits, held[uuid]))
        return sources

    def accepting(self, emits, trees=None):
        """``{emit trait: {provider: root provider}}``.

        The providers that accept each stream: those carrying any of the
        names :func:`nova_vfio_compat.model.traits.accept_traits_for` gives for
        it (both encodings), asked for with ``required=in:``.  Placement
        refuses a ``required`` trait it does not know (400), and most
        block names were never published, so the known ones are found
        first; a stream none of whose names exists is accepted by nobody.

        :param trees: None to ask about the whole fleet, one request per
            stream (the answer grows with the fleet); or the provider
            UUIDs (the candidate hosts' roots) whose trees alone are
            asked about, one ``in_tree`` request per tree and stream
            (Placement takes one tree per request), so that the answer
            grows with the trees asked, not with the fleet.  For a
            provider in those trees the answer is the same either way.
        """
        wanted = {emit: nvc_traits.accept_traits_for(emit)
                  for emit in sorted(emits)}
        known = placement_reader.existing_traits(
            set().union(*wanted.values()),
            lambda name_filter: self._get(
                '/traits?name=%s' % name_filter,
                placement_reader.TRAITS_MICROVERSION,
                route='traits')['traits'])
        scopes = [None] if trees is None else sorted(set(trees))
        result = {}
        for emit, accept in wanted.items():
            existing = sorted(accept & known)
            result[emit] = found = {}
            if not existing:
                continue
            required = 'in:' + ','.join(existing)
            for tree in scopes:
                query = {'required': required}
                if tree is not None:
                    query = {'in_tree': tree, 'required': required}
                providers = self._get(
                    '/resource_providers?%s' % parse.urlencode(query),
                    placement_version.MICROVERSION,
                    route='providers')['resource_providers']
                found.update((rp['uuid'], rp['root_provider_uuid'])
                             for rp in providers)
        return result

    def candidates(self, querystring):
        """``(allocation requests, root providers)`` of a candidates query.

        What Placement answers ``GET /allocation_candidates?<querystring>``
        (Nova's own query string, limit included): how many allocation
        requests, and the roots of the providers they use: only that is
        checked (the shape ``candidates counted``).
        """
        body = self._get('/allocation_candidates?%s' % querystring,
                         CANDIDATES_MICROVERSION, route='candidates counted')
        return len(body['allocation_requests']), frozenset(
            summary['root_provider_uuid']
            for summary in body['provider_summaries'].values())
