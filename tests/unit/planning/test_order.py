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

"""The upgrade order (pure).

Upgrades that lose nothing first, then the hosts with the most servers,
waves mixing the kinds of hosts; on a small fleet it strands fewer
servers than host-name order.
"""

from benchmarks import fleet as bench_fleet
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits
from nova_vfio_compat.planning import compatibility
from nova_vfio_compat.planning import drain
from nova_vfio_compat.planning import order

TARGET = bench_fleet.document(1, 2)      # accepts 1.0 - 1.2
BREAK = bench_fleet.document(2, 0)       # a major break: accepts 2.0
OTHER_FAMILY = records.loads(
    'device_api: vfio-pci\nvendor: i915\nversion: {major: 1, minor: 2}\n'
    'vfio-pci: {vendor: 0x8086, device: 0x591d, subsystem_vendor: 0x8086,'
    ' subsystem_device: 0x0003}\n', 'i915 1.2')


def _traits(doc):
    return frozenset(traits.document_traits(doc)) | {'OWNER_NOVA'}


def _provider(host, doc):
    return compatibility.Provider(host + '/gpu', host + '/gpu', host,
                                  _traits(doc))


def test_an_upgrade_that_breaks_goes_last():
    # h1 has the most servers, but its upgrade (a major break) would stop
    # it accepting the 1.x streams h2 and h3 emit.
    providers = [_provider('h1', bench_fleet.document(1, 0)),
                 _provider('h2', bench_fleet.document(1, 1)),
                 _provider('h3', bench_fleet.document(1, 1))]
    assumed = {'h1/gpu': _traits(BREAK), 'h2/gpu': _traits(TARGET),
               'h3/gpu': _traits(TARGET)}
    servers = {'h1': [('h1/gpu',)] * 3, 'h2': [('h2/gpu',)],
               'h3': [('h3/gpu',)]}
    assert order.upgrade_order(providers, assumed, servers) == [
        'h2', 'h3', 'h1']


def test_then_the_hosts_with_the_most_servers_and_ties_by_name():
    providers = [_provider(h, bench_fleet.document(1, 1))
                 for h in ('h4', 'h3', 'h1', 'h2')]
    assumed = {p.uuid: _traits(TARGET) for p in providers}
    servers = {'h2': [('h2/gpu',)], 'h3': [('h3/gpu',)] * 2,
               'h4': [('h4/gpu',)]}
    assert order.upgrade_order(providers, assumed, servers,
                               candidates=['h4', 'h3', 'h2', 'h1']) == [
        'h3', 'h2', 'h4', 'h1']


def test_loses():
    old, new = _traits(bench_fleet.document(1, 1)), _traits(TARGET)
    emitted = [traits.emitted(old)]
    assert not order.loses([old], [new], emitted)
    assert order.loses([old], [_traits(BREAK)], emitted)
    # Nothing is lost that nobody emits.
    assert not order.loses([old], [_traits(BREAK)], [])


def test_a_wave_mixes_the_kinds_of_hosts():
    other = bench_fleet.document(1, 1, subsys=0x12a3)
    providers = ([_provider('a%d' % i, bench_fleet.document(1, 1))
                  for i in range(6)] +
                 [_provider('b%d' % i, OTHER_FAMILY) for i in range(3)] +
                 [_provider('c%d' % i, other) for i in range(3)])
    ranked = ['a%d' % i for i in range(6)] + ['b0', 'b1', 'b2', 'c0', 'c1',
                                              'c2']
    # GPUs whose subsystem IDs differ are one family (one kind of host).
    assert order.spread_wave(providers, ranked, 4) == ['a0', 'a1', 'a2',
                                                       'b0']
    assert order.spread_wave(providers, ranked, 12) == ranked
    assert order.spread_wave(providers, ranked[:2], 4) == ranked[:2]


def _roll(docs, targets, on, capacity, sequence):
    """Upgrade hosts in ``sequence``, drain plan by drain plan.

    :param docs: ``{host: document now}``; ``targets`` after the upgrade.
    :param on: ``{host: number of servers}``.
    :returns: the number of servers stranded.
    """
    docs, on = dict(docs), dict(on)
    stranded = 0
    for name in sequence:
        providers = {h: _provider(h, d) for h, d in docs.items()
                     if h != name}
        free = {(h + '/gpu', 'VGPU'): capacity - on[h] for h in providers}
        streams = traits.emitted(_traits(docs[name]))
        plan_servers, options = [], {}
        for i in range(on[name]):
            server = drain.Server('%s-%d' % (name, i), (drain.Device(
                name + '/gpu', None, (('VGPU', 1),), streams),))
            plan_servers.append(server)
            options[server.consumer] = [
                drain.Option(h, (p.uuid,)) for h, p in providers.items()
                if compatibility.accepts(p.traits, streams)]
        result = drain.plan(plan_servers, options, free)
        for option in result.assignments.values():
            on[option.host] += 1
        on[name] = len(result.stranded)
        stranded += len(result.stranded)
        if not result.stranded:
            docs[name] = targets[name]
    return stranded


def test_the_order_strands_fewer_than_name_order():
    # h1 on 1.1 goes to 2.0 (a break), h2 on 1.0 to 1.2; a server each,
    # room for two each.
    docs = {'h1': bench_fleet.document(1, 1),
            'h2': bench_fleet.document(1, 0)}
    targets = {'h1': BREAK, 'h2': TARGET}
    on = {'h1': 1, 'h2': 1}
    providers = [_provider(h, d) for h, d in docs.items()]
    ranked = order.upgrade_order(
        providers, {h + '/gpu': _traits(targets[h]) for h in docs},
        {h: [(h + '/gpu',)] * n for h, n in on.items()})
    assert ranked == ['h2', 'h1']
    # Name order: h2 (1.0) does not accept h1's 1.1 server, which stays.
    # The order drains h2 into h1 first, then h1 into the upgraded h2.
    assert _roll(docs, targets, on, 2, sorted(docs)) == 1
    assert _roll(docs, targets, on, 2, ranked) == 0
