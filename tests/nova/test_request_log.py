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


"""What the filter logs for one request over many hosts.

The real filter class through Nova's ``filter_all`` entry point, its
Placement reads answered by the real Placement app (in-process) holding a
fleet the reporter published; only the live migration is handed to it
through its public ``live_migration`` argument instead of Nova's cell
database.  Hosts 5, 10, ... run another major version: they refuse the
source's stream; on the others some GPUs refuse, so candidates are pruned.
"""

import logging
import re

from oslo_config import cfg
import pytest

from nova import objects

from benchmarks import filters as bench_filters
from benchmarks import fleet
from benchmarks import scenarios
from nova_vfio_compat.scheduler import vfio_compat_filter
from nova_vfio_compat.selection import decision

HOSTS = 30
REFUSING = HOSTS // 5


@pytest.fixture(scope='module')
def cloud():
    objects.register_all()
    with scenarios.grown_fleet(HOSTS) as (placement, the_fleet):
        by_root = the_fleet.allocation_candidates(placement.nova_adapter())
        yield the_fleet, by_root


class Records(logging.Handler):
    """The filter's log records at or above ``level``."""

    def __init__(self, level):
        super().__init__(level)
        self.records = []
        self.logger = logging.getLogger(vfio_compat_filter.__name__)

    def emit(self, record):
        self.records.append(record)

    def __enter__(self):
        self._level = self.logger.level
        self.logger.setLevel(self.level)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self._level)

    def at(self, level):
        return [r.getMessage() for r in self.records if r.levelno == level]


def _run(cloud, level, hosts=None):
    the_fleet, by_root = cloud
    chosen = the_fleet.hosts if hosts is None else hosts
    states, reset = scenarios.host_states(chosen, by_root)
    reset()
    the_filter = bench_filters.known_migration(the_fleet.migration,
                                               the_fleet.source_root)
    with Records(level) as logged:
        passed = list(the_filter.filter_all(
            states, scenarios.request_spec('source')))
    return passed, states, logged


def test_one_info_line_per_request(cloud):
    passed, states, logged = _run(cloud, logging.INFO)
    assert len(passed) == HOSTS - REFUSING
    (summary,) = logged.at(logging.INFO)
    assert logged.at(logging.DEBUG) == []
    assert summary.startswith('VFIOCompatFilter: live migration of instance')
    assert '%d of %d hosts passed' % (len(passed), HOSTS) in summary
    stream = re.search(r'no provider of the host accepts stream (\S+) ',
                       summary).group(1)
    # Counted per reason, with at most three example hosts.
    examples = re.search(r'rejected: %d because no provider of the host '
                         r'accepts stream \S+ \(e\.g\. ([^)]*)\)'
                         % REFUSING, summary).group(1).split(', ')
    assert examples == ['host00005', 'host00010', 'host00015']
    total = HOSTS * fleet.PARENTS
    kept = sum(len(s.allocation_candidates) for s in passed)
    pruned_hosts = [s for s in passed if len(s.allocation_candidates) <
                    fleet.PARENTS]
    assert '%d allocation candidate(s) pruned on %d host(s)' % (
        total - REFUSING * fleet.PARENTS - kept, len(pruned_hosts)) in summary
    # The fleet's 1.2 and 1.3 GPUs accept the source's 1.2, and so does
    # the source GPU (a root carries none of its GPUs' traits).
    accepting = sum(1 for h in cloud[0].hosts for doc in h.gpus.values()
                    if doc.emits.major == 1 and doc.emits.minor >= 2) + 1
    assert 'streams: %s emitted by source_pci_0000_81_00_0' % stream in \
        summary
    assert summary.endswith('accepted by %d provider(s)' % accepting)


def test_debug_lines_name_each_rejected_or_pruned_host(cloud):
    passed, states, logged = _run(cloud, logging.DEBUG)
    debug = logged.at(logging.DEBUG)
    rejected = [line for line in debug if ' rejected for instance ' in line]
    assert len(rejected) == REFUSING
    assert 'VFIOCompatFilter: host host00005 rejected' in rejected[0]
    assert 'no provider accepts stream' in rejected[0]
    pruned = [line for line in debug if 'allocation candidates for' in line]
    assert len(pruned) == len([s for s in passed if len(
        s.allocation_candidates) < fleet.PARENTS])
    assert all('does not accept stream' in line for line in pruned)
    assert len(logged.at(logging.INFO)) == 1


class CountingStreams(decision.Streams):
    """Streams that count how often reasons are worked out."""

    def __init__(self, *args):
        super().__init__(*args)
        self.decided = 0
        self.reasons = 0

    def decide(self, *args):
        self.decided += 1
        return super().decide(*args)

    def reason(self, *args):
        self.reasons += 1
        return super().reason(*args)


def _check(cloud):
    """The request-wide step of the real filter, its Streams counting."""
    the_fleet, _ = cloud
    the_filter = bench_filters.known_migration(the_fleet.migration,
                                               the_fleet.source_root)
    check = the_filter.check_request(scenarios.request_spec('source'))
    check.streams = CountingStreams(check.streams.sources,
                                    check.streams.accepting)
    return check


@pytest.mark.parametrize('level,decided,reasons', [
    (logging.WARNING, 0, 0),
    (logging.INFO, 0, REFUSING),
    (logging.DEBUG, None, REFUSING),
])
def test_reasons_are_only_worked_out_for_lines_that_show_them(
        cloud, level, decided, reasons):
    the_fleet, by_root = cloud
    check = _check(cloud)
    states, reset = scenarios.host_states(the_fleet.hosts, by_root)
    reset()
    with Records(level) as logged:
        passed = list(check.filter(states))
    assert len(passed) == HOSTS - REFUSING
    assert check.streams.reasons == reasons
    if decided is None:
        # One per rejected or pruned host, for its DEBUG line.
        assert check.streams.decided == len(logged.at(logging.DEBUG)) > 0
    else:
        assert check.streams.decided == decided
        assert logged.at(logging.DEBUG) == []


def test_truncated_candidates_get_a_warning(cloud):
    the_fleet, by_root = cloud
    refusing = [h for i, h in enumerate(the_fleet.hosts, 1) if i % 5 == 0]
    handed = len(refusing) * fleet.PARENTS
    conf = cfg.CONF
    try:
        # Above every candidate of the fleet: nothing is left out.
        every = sum(len(c) for c in by_root.values())
        conf.set_override('max_placement_results', every + 1,
                          group='scheduler')
        passed, _, logged = _run(cloud, logging.WARNING, refusing)
        assert passed == []
        assert logged.at(logging.WARNING) == []

        conf.set_override('max_placement_results', handed,
                          group='scheduler')
        passed, _, logged = _run(cloud, logging.WARNING, refusing)
        assert passed == []
        (warning,) = logged.at(logging.WARNING)
    finally:
        conf.clear_override('max_placement_results', group='scheduler')
    assert warning.startswith('VFIOCompatFilter: no host passed')
    # Counted against what Placement answers Nova's own query (one vGPU)
    # at that limit: some accepting hosts are in that answer, the others
    # are what the warning counts.
    left_out = int(re.search(r'but (\d+) host\(s\) whose devices accept '
                             r'its streams', warning).group(1))
    assert 0 < left_out < HOSTS - REFUSING
    assert '[scheduler] max_placement_results = %d' % handed in warning
    assert '[placement] randomize_allocation_candidates' in warning


def test_no_warning_when_a_host_passes(cloud):
    the_fleet, _ = cloud
    conf = cfg.CONF
    try:
        conf.set_override('max_placement_results', 1, group='scheduler')
        passed, _, logged = _run(cloud, logging.WARNING,
                                 the_fleet.hosts[:5])
    finally:
        conf.clear_override('max_placement_results', group='scheduler')
    assert len(passed) == 4
    assert logged.at(logging.WARNING) == []


def test_placement_down_is_one_error_and_one_summary(cloud):
    # Placement refuses every read (a fault the real service cannot be
    # made to produce per request here): every host is rejected, fail
    # closed, and the log says so once, not once per host.
    the_fleet, by_root = cloud

    def down(url, microversion):
        raise vfio_compat_filter.PlacementUnavailable(
            'Placement GET %s failed: connection refused' % url)

    found = vfio_compat_filter.LiveMigration(
        the_fleet.migration.uuid, 'source', the_fleet.source_root)
    the_filter = vfio_compat_filter.VFIOCompatFilter(
        live_migration=lambda spec_obj: found, placement_get=down)
    states, reset = scenarios.host_states(the_fleet.hosts, by_root)
    reset()
    with Records(logging.INFO) as logged:
        passed = list(the_filter.filter_all(
            states, scenarios.request_spec('source')))
    assert passed == []
    (error,) = logged.at(logging.ERROR)
    assert 'rejecting every host (fail closed' in error
    (summary,) = logged.at(logging.INFO)
    assert ' from source: ' in summary
    assert ('0 of %d hosts passed; rejected: %d because the compatibility '
            'data could not be read (fail closed)' % (HOSTS, HOSTS)) in summary
    assert 'streams: not read' in summary
