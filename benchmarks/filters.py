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

"""The filters the benchmarks compare, all run through Nova's
``BaseFilter.filter_all`` path.

* :class:`PassAll`: a trivial ``BaseHostFilter`` that passes every host,
  the floor any filter costs;
* the real :class:`VFIOCompatFilter`, with its Nova database step (which
  migration, which source node) answered in advance by
  :class:`KnownMigration` -- a constant number of database reads per
  request that has nothing to do with the number of hosts -- or, for the
  per-host cost only, its whole request-wide step by :class:`Prefetched`;
* :class:`RulesPerHost`: the alternative the design rejects, which
  evaluates the capability records with the rule engine for every host
  and candidate (and is even given the records for free).
"""

from nova.scheduler import filters

from nova_vfio_compat import rules
from nova_vfio_compat.scheduler import vfio_compat_filter


class PassAll(filters.BaseHostFilter):
    """Every host passes."""

    def host_passes(self, host_state, spec_obj):
        return True


class KnownMigration(vfio_compat_filter.VFIOCompatFilter):
    """The real filter; the migration and source node are given.

    Everything else, every Placement request included, is the filter's
    own code.
    """

    def __init__(self, migration, source_root):
        super().__init__()
        self._found = (migration, source_root)

    def _live_migration(self, ctxt, spec_obj):
        return self._found


class Prefetched(vfio_compat_filter.VFIOCompatFilter):
    """The real filter with its request-wide answer computed in advance.

    ``streams`` is a :class:`nova_vfio_compat.scheduler.decision.Streams`
    built from the same data Placement would return; the per-host path
    (``filter_all`` -> ``_host_ok`` -> ``Streams.decide`` and candidate
    pruning) is the filter's own.
    """

    def __init__(self, streams):
        super().__init__()
        self._prefetched = vfio_compat_filter._Verdict(streams=streams)

    def _verdict(self, spec_obj):
        return self._prefetched


class RulesPerHost(filters.BaseHostFilter, filters.CandidateFilterMixin):
    """Evaluate the records with :func:`rules.check` per host.

    :param sources: the source devices' documents.
    :param documents: ``{provider uuid: Document}`` of every destination
        device, handed over for free (a real implementation would also
        have to fetch them).
    """

    def __init__(self, sources, documents):
        super().__init__()
        self.sources = sources
        self.documents = documents

    def _candidate_ok(self, root, candidate):
        for provider in candidate['allocations']:
            if provider == root:
                continue
            dest = self.documents[provider]
            for source in self.sources:
                if not rules.check(source, dest).compatible:
                    return False
        return True

    def host_passes(self, host_state, spec_obj):
        root = host_state.uuid
        kept = self.filter_candidates(
            host_state, lambda c: self._candidate_ok(root, c))
        return bool(kept)
