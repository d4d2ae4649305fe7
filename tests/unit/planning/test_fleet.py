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

"""The fleet map (pure): "can move to" is what the rules say, and the
groups are the hosts between which servers can go both ways."""

import dataclasses
import itertools

from hypothesis import given
from hypothesis import strategies as st

from benchmarks import fleet as bench_fleet
from nova_vfio_compat.model import records
from nova_vfio_compat.model import rules
from nova_vfio_compat.model import traits
from nova_vfio_compat.planning import assume
from nova_vfio_compat.planning import compatibility
from nova_vfio_compat.planning import fleet

HOSTS = ['a', 'b', 'c', 'd']
OTHER_FAMILY = records.loads(
    'device_api: vfio-pci\nvendor: i915\nversion: {major: 1, minor: 2}\n'
    'vfio-pci: {vendor: 0x8086, device: 0x591d, subsystem_vendor: 0x8086,'
    ' subsystem_device: 0x0003}\n', 'i915 1.2')

documents = st.one_of(
    st.builds(lambda major, minor, low, subsys: bench_fleet.document(
        major, minor, min(low, minor), subsys),
        st.integers(1, 2), st.integers(0, 3), st.integers(0, 3),
        st.sampled_from([0x12a2, 0x12a2, 0x12a3])),
    st.just(OTHER_FAMILY))

fleets = st.lists(st.tuples(st.sampled_from(HOSTS), documents), max_size=8)


def _family(document):
    return assume.Assumption('x', document).family


def _providers(placed):
    return [compatibility.Provider('p%d' % i, 'gpu%d' % i, host,
                                   traits.document_traits(doc) |
                                   {'OWNER_NOVA'})
            for i, (host, doc) in enumerate(placed)]


def _reachable(relation, start):
    seen, todo = set(), [start]
    while todo:
        for nxt in relation.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@given(fleets)
def test_can_move_to_is_what_the_rules_say(placed):
    families = {f.name: f for f in fleet.build(_providers(placed))}
    assert set(families) == {_family(doc) for _, doc in placed}
    for name, family in families.items():
        docs = {h: [d for host, d in placed if host == h and
                    _family(d) == name] for h in HOSTS}
        assert set(family.can_move_to) == {h for h in HOSTS if docs[h]}
        for a, b in itertools.permutations(HOSTS, 2):
            if not docs[a]:
                continue
            expected = all(any(rules.check(src, dest).compatible
                               for dest in docs[b]) for src in docs[a])
            assert (b in family.can_move_to[a]) is expected, (a, b)


@given(fleets)
def test_groups_are_the_hosts_that_reach_each_other(placed):
    for family in fleet.build(_providers(placed)):
        members = [h for g in family.groups for h in g]
        assert len(members) == len(set(members))
        assert set(members) == set(family.emits) | set(family.accepts)
        group_of = {h: i for i, g in enumerate(family.groups) for h in g}
        for a, b in itertools.permutations(members, 2):
            both_ways = (b in _reachable(family.can_move_to, a) and
                         a in _reachable(family.can_move_to, b))
            assert both_ways is (group_of[a] == group_of[b]), (a, b)
        # one-way edges between groups: exactly the crossing moves, and
        # never a cycle (else the groups would be one)
        crossing = {(group_of[a], group_of[b])
                    for a, dests in family.can_move_to.items()
                    for b in dests if group_of[a] != group_of[b]}
        assert set(family.group_edges) == crossing
        graph = {}
        for x, y in family.group_edges:
            graph.setdefault(x, set()).add(y)
        assert all(g not in _reachable(graph, g) for g in graph)


def test_rolling_upgrade_order_shows_as_one_way_edges():
    placed = [('a', bench_fleet.document(1, 1)),
              ('b', bench_fleet.document(1, 1)),
              ('c', bench_fleet.document(1, 2)),
              ('d', OTHER_FAMILY)]
    i915, gpu = fleet.build(_providers(placed))
    assert (i915.name, gpu.name) == ('I915_8086_591D', 'NVIDIA_10DE_1EB8')
    assert gpu.groups == [['a', 'b'], ['c']]
    assert gpu.group_edges == [(0, 1)]
    assert gpu.emits == {'a': [(1, 1)], 'b': [(1, 1)], 'c': [(1, 2)]}
    assert gpu.accepts['a'] == [(1, 1)]
    assert gpu.accepts['c'] == [(1, 1), (1, 2)]
    assert i915.groups == [['d']]
    as_dict = gpu.to_dict()
    assert as_dict['hosts']['c'] == {
        'emits': ['1.2'], 'accepts': ['1.1', '1.2'],
        'emit_traits': sorted(gpu.streams[(1, 2)]), 'mdev_types': []}
    assert as_dict['can_move_to'] == {'a': ['b', 'c'], 'b': ['a', 'c'],
                                      'c': []}


def test_dot_has_a_cluster_per_family_and_an_edge_per_one_way_move():
    placed = [('a', bench_fleet.document(1, 1)),
              ('c', bench_fleet.document(1, 2)),
              ('d"q', OTHER_FAMILY)]
    dot = fleet.to_dot(fleet.build(_providers(placed)))
    assert dot.startswith('digraph fleet {')
    assert dot.count('subgraph cluster_') == 2
    assert '"1.0" -> "1.1";' in dot
    assert dot.count('->') == 1
    assert 'a\\nemits 1.1' in dot
    assert 'd\\"q' in dot


def test_format_versions():
    assert fleet.format_versions([(1, 0), (1, 1), (1, 2), (2, 0), (1, 4)]) \
        == '1.0-1.2, 1.4, 2.0'
    assert fleet.format_versions([]) == ''


def test_two_groups_that_differ_only_by_mdev_type_look_different(capsys):
    from nova_vfio_compat.cmd import maintenance
    from nova_vfio_compat.model import publication
    from nova_vfio_compat.planning import report

    raw = records.loads(bench_fleet.document_text(1, 2), 'gpu 1.2')
    providers = []
    for host, mdev_type in (('a1', 'nvidia-222'), ('a2', 'nvidia-222'),
                            ('b1', 'nvidia-223')):
        document, _ = publication.typed_document(raw, mdev_type)
        (provider,) = _providers([(host, document)])
        # As the reporter publishes a GPU: its type named too.
        providers.append(dataclasses.replace(
            provider, uuid=host, traits=provider.traits | {
                traits.mdev_type_trait(mdev_type)}))
    (family,) = fleet.build(providers)
    # The same family and version, two streams: two groups.
    assert family.groups == [['a1', 'a2'], ['b1']]
    assert family.ambiguous()
    data = family.to_dict()
    a_ids = {fleet.stream_id(e) for e in data['hosts']['a1']['emit_traits']}
    b_ids = {fleet.stream_id(e) for e in data['hosts']['b1']['emit_traits']}
    assert len(a_ids) == len(b_ids) == 1 and a_ids != b_ids
    assert data['hosts']['b1']['mdev_types'] == ['nvidia-223']
    assert data['group_mdev_types'] == [['nvidia-222'], ['nvidia-223']]

    maintenance.print_fleet(report.fleet([family]))
    out = capsys.readouterr().out
    groups = [line for line in out.splitlines()
              if line.startswith(('    1: ', '    2: '))]
    # Without the host names, the two group lines still differ.
    assert len(groups) == 2
    assert groups[0].split('[')[1] != groups[1].split('[')[1]
    assert groups[0].split('[')[1] == 'mdev type nvidia-222]  '
    assert groups[1].split('[')[1] == 'mdev type nvidia-223]  '
    assert 'stream %s' % a_ids.pop() in groups[0]
    dot = fleet.to_dot([family])
    assert dot.count('\\nstream ') == 2
    assert dot.count('\\nmdev type nvidia-22') == 2


def test_one_stream_per_version_shows_no_stream_ids(capsys):
    from nova_vfio_compat.cmd import maintenance
    from nova_vfio_compat.planning import report
    placed = [('a', bench_fleet.document(1, 2)),
              ('b', bench_fleet.document(1, 3))]
    (family,) = fleet.build(_providers(placed))
    assert not family.ambiguous()
    maintenance.print_fleet(report.fleet([family]))
    assert 'stream' not in capsys.readouterr().out
    assert 'stream' not in fleet.to_dot([family])
