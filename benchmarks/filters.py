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
* :class:`SetLookup`: one set lookup per allocation candidate, the floor
  of any filter that looks at each candidate;
* the real :class:`VFIOCompatFilter`, given the live migration through
  its public ``live_migration`` argument (:func:`known_migration`) -- the
  Nova database step it stands for is a constant number of reads per
  request that has nothing to do with the number of hosts -- or, for the
  per-host cost only, its whole request-wide step computed in advance
  (:class:`Prefetched`, through the public ``check_request``);
* :class:`RulesPerHost`: the alternative the design rejects, which
  evaluates the capability records with the rule engine for every host
  and candidate (and is even given the records for free).
"""

from nova.scheduler import filters

from nova_vfio_compat.model import rules
from nova_vfio_compat.scheduler import vfio_compat_filter


class PassAll(filters.BaseHostFilter):
    """Every host passes."""

    def host_passes(self, host_state, spec_obj):
        return True


class SetLookup(filters.BaseHostFilter):
    """A host passes if one of its candidates' first provider is in a set."""

    def __init__(self, accepted):
        super().__init__()
        self.accepted = accepted

    def host_passes(self, host_state, spec_obj):
        accepted = self.accepted
        return any(next(iter(c['allocations'])) in accepted
                   for c in host_state.allocation_candidates)


def known_migration(migration, source_root):
    """The real filter, told which live migration is being scheduled.

    Everything else, every Placement request included, is the filter's
    own code.
    """
    found = vfio_compat_filter.LiveMigration(
        migration.uuid, migration.source_compute, source_root)
    return vfio_compat_filter.VFIOCompatFilter(
        live_migration=lambda spec_obj: found)


class Prefetched(vfio_compat_filter.VFIOCompatFilter):
    """The real filter with its request-wide answer computed in advance.

    ``check`` is a :class:`vfio_compat_filter.RequestCheck` built from
    the same data Placement would return; the per-host path
    (``filter_all`` -> ``RequestCheck.filter`` -> ``Streams.check`` and
    candidate pruning) is the filter's own.
    """

    def __init__(self, check):
        super().__init__()
        self.check = check

    def check_request(self, spec_obj, hosts=None):
        return self.check


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
