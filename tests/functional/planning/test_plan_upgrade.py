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

"""``plan-upgrade`` against fleets the real reporter published to
Placement, through its command line."""

from benchmarks import fleet as bench_fleet
from nova_vfio_compat.model import rules
from tests.functional.planning.conftest import document_file
from tests.functional.planning.conftest import gpu
from tests.functional.planning.conftest import run
from tests.functional.planning.conftest import run_json


def _provider_names(fleet):
    return {fleet.conn.placement.get_resource_provider(uuid).name: uuid
            for uuids in fleet.gpus.values() for uuid in uuids}


def _assert_moves_follow_the_rules(fleet, result, target):
    """Every move's destination accepts the server's device's stream.

    By the rules, on the documents as they are in that wave: a host of
    an earlier wave has the target document.
    """
    by_name = _provider_names(fleet)
    host_of = {uuid: host for host, uuids in fleet.gpus.items()
               for uuid in uuids}
    upgraded = set()
    document = dict(fleet.documents)
    at = {}
    for wave in result['waves']:
        for move in wave['moves']:
            source = at.get(move['consumer'])
            if source is None:
                (source,) = [u for h, uuids in fleet.gpus.items()
                             if h == move['source']['node'] for u in uuids
                             if fleet.documents[u] is not None]
            (dest,) = move['destination']['providers']
            dest = by_name[dest]
            assert host_of[dest] not in [h['node'] for h in wave['hosts']]
            verdict = rules.check(document[source], document[dest])
            assert verdict.compatible, (move, verdict.reasons)
            at[move['consumer']] = dest
        for h in wave['hosts']:
            upgraded.add(h['node'])
            for uuid in fleet.gpus[h['node']]:
                document[uuid] = target
    return upgraded


def test_a_minor_upgrade_keeps_every_server_running(fleet, nova_conf,
                                                    tmp_path):
    # 1.0, 1.1, 1.2 to 1.4 (which takes every 1.x): the order matters, the
    # oldest host's servers have nowhere to go until a host is upgraded.
    h0 = fleet.host('h0', gpu(2, total=2))
    h1 = fleet.host('h1', gpu(1, total=2))
    fleet.host('h2', gpu(0, total=2))
    fleet.allocate('vm-a', h0[0])
    fleet.allocate('vm-b', h0[0])
    fleet.allocate('vm-c', h1[0])
    target = document_file(tmp_path, 4)

    status, result = run_json(nova_conf, 'plan-upgrade', '--target',
                              target)

    assert status == 0
    assert result['downtime'] == {'planned': 0, 'bound': 0,
                                  'avoidable': 0}
    assert [h['node'] for h in result['hosts']] == ['h0', 'h1', 'h2']
    assert all(not w['downtime'] for w in result['waves'])
    upgraded = _assert_moves_follow_the_rules(
        fleet, result, bench_fleet.document(1, 4))
    assert upgraded == {'h0', 'h1', 'h2'}
    moved = {m['consumer'] for w in result['waves'] for m in w['moves']}
    assert len(moved) == 3


def test_a_major_break_needs_downtime_that_no_order_avoids(
        fleet, nova_conf, tmp_path):
    h0 = fleet.host('h0', gpu(1))
    h1 = fleet.host('h1', gpu(1))
    fleet.allocate('vm-a', h0[0])
    fleet.allocate('vm-b', h1[0])
    target = document_file(tmp_path, 0, major=2)

    status, out, err = run(nova_conf, 'plan-upgrade', '--target', target)

    assert status == 1, err
    assert 'DOWNTIME' in out and '(forced)' in out
    assert ('Downtime: 2 servers planned; 2 forced whatever the order (the '
            'bound); 0 avoidable.') in out
    status, result = run_json(nova_conf, 'plan-upgrade', '--target',
                              target)
    down = [d for w in result['waves'] for d in w['downtime']]
    assert len(down) == 2 and all(d['forced'] for d in down)
    assert 'no device accepts' in down[0]['reason']


def test_a_host_the_upgrade_leaves_alone_is_a_destination(
        fleet, nova_conf, tmp_path):
    h0 = fleet.host('h0', gpu(1))
    fleet.host('stays', gpu(2))
    fleet.allocate('vm-a', h0[0])
    target = document_file(tmp_path, 0, major=2)

    status, result = run_json(nova_conf, 'plan-upgrade', '--assume',
                              'h0=%s' % target)

    assert status == 0
    ((move,),) = [w['moves'] for w in result['waves']]
    assert move['destination']['node'] == 'stays'
    assert result['downtime']['bound'] == 0


def test_capacity_left_short_is_avoidable_downtime(fleet, nova_conf,
                                                   tmp_path):
    # Only one free VGPU anywhere for two servers: one is stopped, and
    # the plan says it is not forced.
    h0 = fleet.host('h0', gpu(2, total=2))
    fleet.host('h1', gpu(2, total=1))
    fleet.allocate('vm-a', h0[0])
    fleet.allocate('vm-b', h0[0])
    target = document_file(tmp_path, 4)

    status, result = run_json(nova_conf, 'plan-upgrade', '--target',
                              target)

    assert status == 1
    assert result['downtime']['bound'] == 0
    assert result['downtime']['planned'] == result['downtime'][
        'avoidable'] >= 1
    down = [d for w in result['waves'] for d in w['downtime']]
    assert all(not d['forced'] and d['why'] != 'forced' for d in down)


def _requests(placement, nova_conf, *argv):
    placement.app.reset()
    status, out, err = run(nova_conf, *argv)
    assert status in (0, 1), err
    return list(placement.app.requests)


def test_reads_are_bounded_per_wave_and_not_by_the_fleet(
        placement, fleet, nova_conf, tmp_path):
    h0 = fleet.host('h0', gpu(2), gpu(1))
    h1 = fleet.host('h1', gpu(2))
    fleet.allocate('a', h0[0])
    fleet.allocate('b', h0[0], amount=2)
    fleet.allocate('c', h0[1])
    fleet.allocate('d', h1[0])
    target = document_file(tmp_path, 3)
    argv = ('plan-upgrade', '--assume', 'h0=%s' % target,
            '--assume', 'h1=%s' % target)
    # every version the fleet's other hosts run: the reads depend on the
    # streams, not on the hosts
    _grow(fleet, 0, 5)
    small = _requests(placement, nova_conf, *argv)
    # as many hosts again, each version twice
    _grow(fleet, 5, 10)
    large = _requests(placement, nova_conf, *argv)

    assert {r[0] for r in large} == {'GET'}, large
    assert len(small) == len(large)
    # 3 per device provider of the upgrade's hosts (3 here), each once
    assert sum(r[1].startswith('/resource_providers/') for r in large) == 9
    # one allocation-candidates query per distinct device demand
    # (stream 1.2 with 1 or 2 VGPU, 1.1 with 1: 3), then per wave only
    # for the demands its moves created
    candidates = [r for r in large if '/allocation_candidates' in r[1]]
    assert 3 <= len(candidates) <= 3 + 4


def _grow(fleet, first, last):
    for i in range(first, last):
        major, minor = bench_fleet.host_version(i, 0)
        fleet.host('other%03d' % i, gpu(minor, major=major))


def test_bad_input_is_named(fleet, nova_conf, tmp_path):
    fleet.host('h0', gpu(1))
    status, _, err = run(nova_conf, 'plan-upgrade')
    assert status == 2 and '--assume HOST=DOCUMENT or --target' in err
    status, _, err = run(nova_conf, 'plan-upgrade', '--wave-size', '0',
                         '--target', document_file(tmp_path, 2))
    assert status == 2 and '--wave-size 0' in err
    status, _, err = run(nova_conf, 'plan-upgrade', '--assume',
                         'nowhere=%s' % document_file(tmp_path, 2))
    assert status == 2 and 'nowhere' in err
