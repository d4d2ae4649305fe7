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

"""What-if: the traits of a host's devices as if they had another document.

Pure: no I/O.  ``--assume HOST=DOCUMENT`` replaces, on every device
provider of ``HOST`` that emits a stream of the document's device family
(the same driver and PCI vendor/device IDs, whatever the version), the
project's own traits by those :func:`traits.document_traits` computes for
the document, the way the reporter would publish them after the upgrade.
Traits that are not the project's are kept.  Nothing is written.

The document is published as the reporter publishes it
(:func:`publication.published_document`, a
:class:`publication.PublishedDevice`): one whose own record names an mdev
type (``self: {mdev_type: ...}``, as vendors' vGPU documents do) as on a
GPU that Nova uses with that type.  Placement does not say which type a
GPU provider uses, so a vGPU document must name it: one whose accept
records name a type while its own record names none is refused.
"""

import dataclasses

from nova_vfio_compat.model import publication
from nova_vfio_compat.model import traits as nvc_traits


class AssumptionError(ValueError):
    """An assumption that cannot be applied; the message names it."""


@dataclasses.dataclass(frozen=True)
class Assumption:
    """``document`` on the devices of ``host``.

    ``document.source`` names the file it came from.
    """

    host: str
    document: object

    def describe(self):
        return '--assume %s=%s' % (self.host, self.document.source)

    def published(self, max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
        """The :class:`publication.PublishedDevice` of the document.

        Typed as the reporter types it on a GPU of the type it names, or
        a PCI device's document (:func:`publication.published_document`);
        the accept records that need mdev attributes are kept (whether
        the host's site pre-creates such mdevs is not in Placement).

        :raises publication.Unpublishable: a vGPU document that names no
            type of its own, or too many traits.
        """
        return publication.published_document(
            self.document, max_traits=max_traits, narrow=False)

    @property
    def family(self):
        return nvc_traits.stream_family(
            nvc_traits.stream_name(self.document.emits))[0]


def families(provider_traits):
    """The device families whose streams a provider emits."""
    out = set()
    for name in nvc_traits.emitted(provider_traits):
        parsed = nvc_traits.parse(name)
        family = parsed and nvc_traits.stream_family(parsed[1])
        if family:
            out.add(family[0])
    return out


def apply(assumptions, host_providers,
          max_traits=nvc_traits.DEFAULT_MAX_TRAITS):
    """The assumed trait sets.

    :param assumptions: :class:`Assumption` s.
    :param host_providers: ``{host: {provider uuid: (name, traits)}}`` of
        the device providers of every assumed host.
    :returns: ``{provider uuid: traits as assumed}`` of the providers an
        assumption changes.
    :raises AssumptionError: for a host with no device of the document's
        family, a provider two assumptions claim, or a document over the
        trait limit.
    """
    result = {}
    claimed = {}
    for assumption in assumptions:
        try:
            doc_traits = assumption.published(max_traits).traits
        except publication.Unpublishable as e:
            raise AssumptionError('%s: %s' % (assumption.describe(), e))
        providers = host_providers.get(assumption.host, {})
        matched = sorted(
            uuid for uuid, (_, names) in providers.items()
            if assumption.family in families(names))
        if not matched:
            seen = sorted(set().union(*(families(names) for _, names in
                                        providers.values())))
            raise AssumptionError(
                '%s: no device provider of %s emits a stream of the '
                "document's device family %s (its devices: %s)" % (
                    assumption.describe(), assumption.host,
                    assumption.family, ', '.join(seen) or 'none reported'))
        for uuid in matched:
            if uuid in claimed:
                raise AssumptionError(
                    '%s and %s both apply to device provider %s' % (
                        claimed[uuid].describe(), assumption.describe(),
                        providers[uuid][0]))
            claimed[uuid] = assumption
            names = providers[uuid][1]
            result[uuid] = frozenset(
                n for n in names if not nvc_traits.is_owned(n)) | doc_traits
    return result
