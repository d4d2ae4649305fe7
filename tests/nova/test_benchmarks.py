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

"""The benchmark's claims, at a size CI can afford.

``python -m benchmarks`` measures; this checks what its tables rest on:
the filter and the rule engine agree, the filter's Placement requests per
request do not grow with the fleet, the reporter's steady state is at
most 2 requests and no write, a device accepting n minors carries the
emit trait and the cover of its range, and what our traits add to Nova's
boot query stays small.
"""

from nova import objects

from benchmarks import cli
from benchmarks import fleet
from benchmarks import placement as bench_placement
from benchmarks import scenarios


def setup_module(module):
    objects.register_all()


def test_per_host_cost_runs_and_the_filter_agrees_with_the_rules():
    # per_host_cost raises if the two disagree on hosts or candidates.
    rows = scenarios.per_host_cost([10, 20])
    assert [r[0] for r in rows] == [10, 20]
    # Every fifth host has another major version: it cannot pass.
    assert [r[8] for r in rows] == [8, 16]
    assert all(all(ratio > 0 for ratio in r[2:8]) for r in rows)


def test_placement_requests_per_request_do_not_grow_with_the_fleet():
    placement = bench_placement.InProcessPlacement()
    try:
        rows = scenarios.fleet_in_placement(placement, [3, 12])
        reporter, owned = scenarios.reporter_sync(placement, count=8)
        widths = scenarios.range_width(placement, [1, 5, 2 ** 31 - 1])
    finally:
        placement.close()
    assert rows[0][2] == rows[1][2]
    assert rows[0][2].endswith('(0 writes)')
    # Hosts 5 and 10 have another major version.
    assert [r[6] for r in rows] == [3, 10]
    first, steady = reporter
    assert first[2] > 0 and steady[2] == 0
    assert steady[1] <= 2
    assert owned > 0
    # 1..1 is one block, 1..5 three (1, 2..3, 4..5), 1..2**31-1 one per
    # level (1, 2..3, 4..7, ...): the emit trait and those.
    assert [(w[0], w[1], w[2]) for w in widths] == [
        (1, 2, 2), (5, 4, 6), (2 ** 31 - 1, 32, 2 ** 31)]
    assert all(w[4] == 1 for w in widths)


def test_boot_query_with_our_traits_stays_close_to_none():
    row = scenarios.boot_candidates(cli.QUICK['boot'])
    hosts, providers = row[0], row[1]
    assert (hosts, providers) == (100, 100 * (fleet.PARENTS + 1))
    assert row[10] == hosts * fleet.PARENTS
    # Ranges of up to 1,000 minors: at most 2 * 9 blocks and the emit
    # trait per GPU (encoding 1 published up to 1,001).
    gpu_max = int(row[2].split(' / ')[1])
    assert 2 <= gpu_max <= 19
    # The published claim is at most 1.3x at 1,000 hosts (the benchmarks
    # page); here a margin for a busy CI machine, still far below what
    # encoding 1 cost (several times).
    assert row[4] < 2.0, row
    assert 1.0 < row[5] < 5.0, row


def test_drain_requests_do_not_grow_with_the_fleet():
    placement = bench_placement.InProcessPlacement()
    try:
        rows = scenarios.drain_in_placement(placement, [3, 12])
    finally:
        placement.close()
    assert rows[0][1] == rows[1][1]
    # Two of the four GPUs of every host accept the source's 1.2 stream,
    # except on hosts 5 and 10 (major version 2).
    assert [r[3] for r in rows] == [2 * 3, 2 * 10]
    assert all(r[2] > 0 for r in rows)


def test_tables_render_in_both_formats():
    rows = [(10, '1.00x'), (100, '2.00x')]
    rst = cli.table('T', ['hosts', 'ratio'], rows, rst=True)
    md = cli.table('T', ['hosts', 'ratio'], rows, rst=False)
    assert rst.splitlines()[3].split() == ['=====', '=====']
    assert '| 100   | 2.00x |' in md
