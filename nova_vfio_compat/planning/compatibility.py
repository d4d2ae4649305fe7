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

"""Does a device provider accept a set of streams?  From trait sets only.

Pure: no I/O.  Every accept test of the planning commands goes through
:func:`accept_names`, the one mapping from an emit trait to the accept
trait names that receive it.
"""

import dataclasses
import functools

from nova_vfio_compat.model import traits as nvc_traits


@dataclasses.dataclass(frozen=True)
class Provider:
    """A device provider as Placement (or an assumption) has it.

    ``host`` is the name of its root provider (the compute node);
    ``traits`` its whole trait set, assumed ones included.
    """

    uuid: str
    name: str
    host: str
    traits: frozenset

    @property
    def streams(self):
        return nvc_traits.emitted(self.traits)

    @property
    def mdev_types(self):
        """The mdev types its traits name (a vGPU's: its streams' type)."""
        return nvc_traits.mdev_types(self.traits)


def accept_names(emit):
    """The accept trait names any one of which receives ``emit``.

    A list so that the Placement queries (``required=in:``) and the local
    tests take every encoding the reporters of a fleet may publish.
    """
    return sorted(_accepting(emit))


@functools.lru_cache(maxsize=4096)
def _accepting(emit):
    """:func:`traits.accept_traits_for` of ``emit``, remembered.

    The planners ask it over and over for the few streams of a fleet.
    """
    return nvc_traits.accept_traits_for(emit)


def refused_streams(provider_traits, streams):
    """The streams of ``streams`` a provider with these traits refuses.

    ``streams`` are emit traits, where
    :func:`nova_vfio_compat.model.traits.unaccepted` takes a source
    provider's whole trait set.
    """
    provider_traits = frozenset(provider_traits)
    return frozenset(s for s in streams
                     if provider_traits.isdisjoint(_accepting(s)))


def accepts(provider_traits, streams):
    """Does a provider with ``provider_traits`` receive every stream?"""
    return not refused_streams(provider_traits, streams)


def short(stream):
    """A stream's emit trait, shortened for people: family V<major>.<minor>.

    The full name is what Placement and the JSON output use.
    """
    parsed = nvc_traits.parse(stream)
    if not parsed:
        return stream
    family = nvc_traits.stream_family(parsed[1])
    if not family:
        return stream
    return '%s v%d.%d' % (family[0], family[1], parsed[2])


def version(stream):
    """``(family, major, minor)`` of an emit trait, else None."""
    parsed = nvc_traits.parse(stream)
    if not parsed or parsed[0] != 'E':
        return None
    family = nvc_traits.stream_family(parsed[1])
    if not family:
        return None
    return family[0], family[1], parsed[2]
