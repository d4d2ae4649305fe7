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

"""The drain plan (pure): never overcommits, only uses admissible
destinations, which the rules accept, and strands only what cannot fit."""

from hypothesis import event
from hypothesis import given
from hypothesis import strategies as st

from benchmarks import fleet as bench_fleet
from nova_vfio_compat.model import records
from nova_vfio_compat.model import rules
from nova_vfio_compat.model import traits
from nova_vfio_compat.planning import compatibility
from nova_vfio_compat.planning import drain
from tests import strategies

RC = 'VGPU'


def _server(consumer, *amounts, streams=frozenset()):
    return drain.Server(consumer, tuple(
        drain.Device('src-%s-%d' % (consumer, i), None, ((RC, a),),
                     frozenset(streams))
        for i, a in enumerate(amounts)))


@st.composite
def plan_inputs(draw):
    """Providers on hosts with free capacity, servers and their options."""
    hosts = ['h%d' % i for i in range(draw(st.integers(1, 3)))]
    providers = {'p%d' % i: draw(st.sampled_from(hosts))
                 for i in range(draw(st.integers(1, 6)))}
    free = {}
    for p in providers:
        for rc in (RC, 'OTHER'):
            free[(p, rc)] = draw(st.integers(0, 3))
    servers, options = [], {}
    for n in range(draw(st.integers(0, 7))):
        amounts = st.dictionaries(st.sampled_from([RC, 'OTHER']),
                                  st.integers(1, 2), min_size=1)
        devices = tuple(
            drain.Device('src%d' % i, None,
                         tuple(sorted(draw(amounts).items())), frozenset())
            for i in range(draw(st.integers(1, 2))))
        server = drain.Server('c%d' % n, devices, draw(st.sampled_from(
            [None, 'vm%d' % n, 'same-name'])))
        servers.append(server)
        choices = set()
        for host in hosts:
            here = sorted(p for p, h in providers.items() if h == host)
            if not here:
                continue
            for _ in range(draw(st.integers(0, 3))):
                choices.add(drain.Option(host, tuple(
                    draw(st.sampled_from(here)) for _ in devices)))
        options[server.consumer] = sorted(choices,
                                          key=lambda o: (o.host,
                                                         o.providers))
    return servers, options, free


@given(plan_inputs())
def test_plan_never_overcommits_and_is_maximal(inputs):
    servers, options, free = inputs
    plan = drain.plan(servers, options, free)
    event('complete' if plan.complete else 'some stranded')

    stranded = [s.server.consumer for s in plan.stranded]
    assert sorted(list(plan.assignments) + stranded) == sorted(
        s.consumer for s in servers)
    left = dict(free)
    by_consumer = {s.consumer: s for s in servers}
    for consumer, option in plan.assignments.items():
        assert option in options[consumer]
        for key, amount in drain.usage(by_consumer[consumer],
                                       option).items():
            left[key] -= amount
    assert all(v >= 0 for v in left.values()), left
    # Nothing stranded would still fit in what the plan leaves.
    for s in plan.stranded:
        assert not any(drain.fits(s.server, o, left)
                       for o in options[s.server.consumer])
        assert s.why == (drain.TAKEN if options[s.server.consumer]
                         else drain.NO_CAPACITY)


def test_the_most_constrained_server_goes_first():
    # "flexible" could use either provider, "picky" only p1: one unit each.
    flexible, picky = _server('flexible', 1), _server('picky', 1)
    options = {'flexible': [drain.Option('h1', ('p1',)),
                            drain.Option('h2', ('p2',))],
               'picky': [drain.Option('h1', ('p1',))]}
    free = {('p1', RC): 1, ('p2', RC): 1}
    for order in ([flexible, picky], [picky, flexible]):
        plan = drain.plan(order, options, free)
        assert plan.complete
        assert plan.assignments == {'picky': options['picky'][0],
                                    'flexible': options['flexible'][1]}
        # decided in that order (the assignments keep it)
        assert list(plan.assignments) == ['picky', 'flexible']


def test_the_least_contested_destination_is_chosen():
    # Both can use p1 or p2 (2 free each) but "big" needs 2 and "a" and
    # "b" 1 each: the plan must not split p1 and p2 between a and b.
    big = _server('big', 2)
    a, b = _server('a', 1), _server('b', 1)
    both = [drain.Option('h1', ('p1',)), drain.Option('h2', ('p2',))]
    options = {s.consumer: both for s in (big, a, b)}
    free = {('p1', RC): 2, ('p2', RC): 2}
    plan = drain.plan([a, b, big], options, free)
    assert plan.complete, plan.stranded


def test_the_first_choice_leaves_the_others_their_options():
    # All three have two options; "a" is decided first (by name) and
    # must take p2, which nobody else wants, not p1 that y and z need.
    a, y, z = _server('a', 1), _server('y', 1), _server('z', 1)
    p1, p2, p3 = (drain.Option('h%d' % i, ('p%d' % i,)) for i in (1, 2, 3))
    options = {'a': [p1, p2], 'y': [p1, p3], 'z': [p3, p1]}
    free = {('p1', RC): 1, ('p2', RC): 1, ('p3', RC): 1}
    plan = drain.plan([a, y, z], options, free)
    assert plan.complete, plan.stranded
    assert plan.assignments['a'] == p2


def test_two_devices_of_one_server_on_one_provider_count_twice():
    server = _server('two', 1, 1)
    options = {'two': [drain.Option('h1', ('p1', 'p1'))]}
    assert drain.plan([server], options, {('p1', RC): 1}).stranded
    assert drain.plan([server], options, {('p1', RC): 2}).complete


def test_explain_tells_incompatible_from_full():
    stream = traits.emit_trait(bench_fleet.document(1, 2).emits)
    server = _server('vm', 1, streams={stream})
    device = server.devices[0]
    stranded = drain.Stranded(server, drain.NO_CAPACITY, '')
    nobody = drain.explain(stranded, {device.provider: set()})
    assert nobody.why == drain.INCOMPATIBLE
    assert 'NVIDIA_10DE_1EB8 v1.2' in nobody.reason
    full = drain.explain(stranded, {device.provider: {'p1'}},
                         {'p1': 'h1_gpu'})
    assert full.why == drain.NO_CAPACITY
    assert 'accepted by h1_gpu, none with 1 VGPU free now' in full.reason
    taken = drain.Stranded(server, drain.TAKEN, 'given away')
    assert drain.explain(taken, {}) is taken


def test_unused_hosts_one_reason_each():
    server = _server('vm', 1, 1)
    a, b = server.devices
    hosts = {'pa1': 'h-partial', 'pa2': 'h-full', 'pb2': 'h-full',
             'pa3': 'h-offered', 'pb3': 'h-offered', 'pa4': 'h-odd',
             'pb4': 'h-odd', 'pa5': 'h-chosen', 'pb5': 'h-chosen'}
    acceptors = {a.provider: {'pa1', 'pa2', 'pa3', 'pa4', 'pa5'},
                 b.provider: {'pb2', 'pb3', 'pb4', 'pb5'}}
    roomy = {a.provider: {'pa1', 'pa2', 'pa3', 'pa4', 'pa5'},
             b.provider: {'pb3', 'pb4', 'pb5'}}
    options = [drain.Option('h-offered', ('pa3', 'pb3')),
               drain.Option('h-chosen', ('pa5', 'pb5'))]
    got = drain.unused_hosts(server, options[1], options, acceptors, roomy,
                             hosts, {'pb2': 'h-full_gpu'})
    assert [(h, why) for h, why, _ in got] == [
        ('h-full', drain.FULL), ('h-odd', drain.NOT_OFFERED),
        ('h-offered', drain.NOT_CHOSEN), ('h-partial', drain.PARTIAL)]
    reasons = {h: r for h, _, r in got}
    assert 'no device accepting src-vm-1 has 1 VGPU free now (h-full_gpu)' \
        in reasons['h-full']
    assert reasons['h-offered'] == 'has room, but the plan sends it to ' \
        'h-chosen'
    assert 'nothing there accepts src-vm-1' in reasons['h-partial']
    # Stranded because the plan gave the room away.
    got = drain.unused_hosts(server, None, options, acceptors, roomy, hosts)
    assert ('h-chosen', drain.NOT_CHOSEN, 'its room is given to other '
            'servers by this plan') in got


family_documents = st.builds(
    lambda major, minor, low: bench_fleet.document(major, minor,
                                                   min(low, minor)),
    st.integers(1, 2), st.integers(0, 4), st.integers(0, 4))


@st.composite
def fleets(draw):
    """A source document and destination documents on hosts.

    Mostly one vGPU family with versions and ranges; sometimes documents
    of anything at all.
    """
    any_document = strategies.documents().map(
        lambda data: records.parse_document(data, 'generated'))
    docs = st.one_of(family_documents, family_documents, any_document)
    source = draw(docs)
    dests = draw(st.lists(st.tuples(st.sampled_from(['src', 'h1', 'h2']),
                                    docs), max_size=6))
    return source, dests


@given(fleets(), st.integers(0, 2))
def test_admissible_destinations_are_those_the_rules_accept(fleet, free):
    source, dests = fleet
    stream = traits.document_traits(source)
    server = drain.Server('vm', (drain.Device(
        'src-gpu', None, ((RC, 1),), traits.emitted(stream)),))
    providers = {'p%d' % i: compatibility.Provider(
        'p%d' % i, None, host, traits.document_traits(doc) | {'OWNER_NOVA'})
        for i, (host, doc) in enumerate(dests)}
    documents = {'p%d' % i: doc for i, (_, doc) in enumerate(dests)}
    every = [drain.Option(p.host, (p.uuid,)) for p in providers.values()]
    options = [o for o in every
               if drain.admissible(server, o, providers, 'src')]

    expected = {o for o in every if o.host != 'src' and rules.check(
        source, documents[o.providers[0]]).compatible}
    assert set(options) == expected
    event('%d admissible' % len(options))

    plan = drain.plan([server], {'vm': options},
                      {(p, RC): free for p in providers})
    for option in plan.assignments.values():
        assert rules.check(source, documents[option.providers[0]]).compatible
