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

"""The planning commands only read, and ``drain`` reads as much for a
fleet of 15 hosts as for 5."""

import pytest

from benchmarks import fleet as bench_fleet
from tests.functional.planning.conftest import document_file
from tests.functional.planning.conftest import gpu
from tests.functional.planning.conftest import run

SOURCE = 'src'
# The fleet's GPU versions repeat every 20 hosts (benchmarks.fleet
# host_version); the small fleet has each of them once (1.0 to 1.3 and
# 2.0), the large one three times as many hosts, three of each version:
# a read per host, per candidate or per version would show.
SMALL, LARGE = 5, 15


def _grow(fleet, first, last):
    for i in range(first, last):
        major, minor = bench_fleet.host_version(i, 0)
        fleet.host('host%03d' % i, gpu(minor, major=major))


def _requests(placement, nova_conf, *argv):
    placement.app.reset()
    status, out, err = run(nova_conf, *argv)
    assert status in (0, 1), err
    return list(placement.app.requests)


def test_drain_request_count_does_not_grow_with_the_fleet(
        placement, fleet, nova_conf, tmp_path):
    src = fleet.host(SOURCE, gpu(2), gpu(1))
    # Two demands (1 VGPU of stream 1.2, 2 VGPU of 1.2) and a third on the
    # other GPU; four servers.
    fleet.allocate('a', src[0])
    fleet.allocate('b', src[0])
    fleet.allocate('c', src[0], amount=2)
    fleet.allocate('d', src[1])
    assumed = ('--assume', 'host003=%s' % document_file(tmp_path, 3))
    _grow(fleet, 1, SMALL + 1)
    small = _requests(placement, nova_conf, 'drain', SOURCE)
    small_assumed = _requests(placement, nova_conf, 'drain', SOURCE,
                              *assumed)
    _grow(fleet, SMALL + 1, LARGE + 1)
    large = _requests(placement, nova_conf, 'drain', SOURCE)
    large_assumed = _requests(placement, nova_conf, 'drain', SOURCE,
                              *assumed)

    assert len(small) == len(large)
    assert len(small_assumed) == len(large_assumed)
    # one allocation-candidates request per distinct demand, three here
    assert sum('/allocation_candidates' in r[1] for r in large) == 3
    for requests in (small, large, small_assumed, large_assumed):
        assert {r[0] for r in requests} == {'GET'}, requests


@pytest.mark.parametrize('argv', [('fleet',), ('fleet', '--json'),
                                  ('fleet', '--dot')])
def test_fleet_only_reads(placement, fleet, nova_conf, tmp_path, argv):
    fleet.host('h1', gpu(2))
    fleet.host('h2', gpu(1))
    requests = _requests(placement, nova_conf, *argv + (
        '--assume', 'h2=%s' % document_file(tmp_path, 3)))
    assert requests and {r[0] for r in requests} == {'GET'}, requests
