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

"""``drain`` against fleets the real reporter published to Placement."""

import collections
import contextlib
import io
import itertools

import pytest

from nova_vfio_compat.cmd import maintenance
from nova_vfio_compat.model import rules
from nova_vfio_compat.planning import compatibility
from nova_vfio_compat.planning import drain
from nova_vfio_compat.planning import report
from nova_vfio_compat.planning_reads import placement_view
from tests.functional.planning.conftest import document_file
from tests.functional.planning.conftest import Fleet
from tests.functional.planning.conftest import gpu
from tests.functional.planning.conftest import run
from tests.functional.planning.conftest import run_json
from tests.functional.reporter.conftest import set_traits as c_set_traits

SOURCE = 'src'


def _by_consumer(result):
    return {s['consumer']: s for s in result['servers']}


def _assert_plan_follows_the_rules(fleet, result):
    """Every planned device accepts the stream of the server's device."""
    by_name = {}
    for host, uuids in fleet.gpus.items():
        for uuid in uuids:
            name = fleet.conn.placement.get_resource_provider(uuid).name
            by_name[name] = uuid
    for server in result['servers']:
        if not server['plan']:
            continue
        for device, dest in zip(server['devices'],
                                server['plan']['providers']):
            source = fleet.documents[device['provider']]
            verdict = rules.check(source, fleet.documents[by_name[dest]])
            assert verdict.compatible, (server, dest, verdict.reasons)


def test_every_server_fits_elsewhere(fleet, nova_conf):
    (src,) = fleet.host(SOURCE, gpu(2))
    fleet.host('h-same', gpu(2, total=1))
    fleet.host('h-newer', gpu(3, total=4))
    fleet.host('h-older', gpu(1, total=4))
    fleet.host('h-major2', gpu(0, major=2, total=4))
    vms = [fleet.allocate('vm%d' % i, src) for i in range(3)]

    status, result = run_json(nova_conf, 'drain', SOURCE)

    assert status == 0
    servers = _by_consumer(result)
    assert set(servers) == set(vms)
    for vm in vms:
        # destinations: what accepts 1.2 (not 1.1, not 2.0), not the source
        assert {d['host'] for d in servers[vm]['destinations']} == {
            'h-same', 'h-newer'}
        assert servers[vm]['stranded'] is None
    hosts = [servers[vm]['plan']['host'] for vm in vms]
    # h-same has one free VGPU: at most one server goes there
    assert hosts.count('h-same') <= 1
    assert result['placed'] == 3 and result['stranded'] == 0
    _assert_plan_follows_the_rules(fleet, result)


def test_two_servers_compete_for_the_last_free_device(fleet, nova_conf):
    (src,) = fleet.host(SOURCE, gpu(2))
    fleet.host('h-last', gpu(2, total=2, used=1))
    fleet.host('h-refuses', gpu(1, total=4))
    vms = [fleet.allocate('vm%d' % i, src) for i in range(2)]

    status, result = run_json(nova_conf, 'drain', SOURCE)

    assert status == 1
    servers = _by_consumer(result)
    for vm in vms:
        assert [d['host'] for d in servers[vm]['destinations']] == [
            'h-last']
    placed = [vm for vm in vms if servers[vm]['plan']]
    stranded = [vm for vm in vms if servers[vm]['stranded']]
    assert len(placed) == 1 and len(stranded) == 1
    why = servers[stranded[0]]['stranded']
    assert why['why'] == drain.TAKEN
    assert 'h-last_pci_0000_81_00_0' in why['reason']
    assert result['placed'] == 1 and result['stranded'] == 1
    _assert_plan_follows_the_rules(fleet, result)


def test_accepted_only_where_there_is_no_free_capacity(fleet, nova_conf):
    (src,) = fleet.host(SOURCE, gpu(3))
    fleet.host('h-full', gpu(3, total=2, used=2))
    fleet.host('h-refuses', gpu(2, total=4))
    vm = fleet.allocate('vm', src)

    status, result = run_json(nova_conf, 'drain', SOURCE)

    assert status == 1
    server = _by_consumer(result)[vm]
    assert server['destinations'] == []
    assert server['stranded']['why'] == drain.NO_CAPACITY
    assert 'accepted by h-full_pci_0000_81_00_0' in server['stranded'][
        'reason']
    assert server['devices'][0]['accepted_by'] == ['h-full_pci_0000_81_00_0']


def test_every_accepting_host_not_used_says_why(fleet, nova_conf):
    (src,) = fleet.host(SOURCE, gpu(3))
    fleet.host('h-full', gpu(3, total=2, used=2))
    fleet.host('h-room', gpu(3, total=4))
    fleet.host('h-room2', gpu(3, total=4))
    fleet.host('h-refuses', gpu(2, total=4))
    vm = fleet.allocate('vm', src)

    status, result = run_json(nova_conf, 'drain', SOURCE)

    assert status == 0
    server = _by_consumer(result)[vm]
    chosen = server['plan']['host']
    other = ({'h-room', 'h-room2'} - {chosen}).pop()
    not_used = {u['host']: u for u in server['not_used']}
    # Every accepting host but the chosen one, and no refusing host.
    assert set(not_used) == {'h-full', other}
    assert not_used['h-full']['why'] == drain.FULL
    assert not_used['h-full']['reason'].startswith('full: ')
    assert '1 VGPU free now' in not_used['h-full']['reason']
    assert 'h-full_pci_0000_81_00_0' in not_used['h-full']['reason']
    assert not_used[other]['why'] == drain.NOT_CHOSEN
    assert chosen in not_used[other]['reason']

    status, out, _ = run(nova_conf, 'drain', SOURCE)
    assert '  not to   h-full: full: ' in out


def test_a_stranded_server_says_why_for_each_full_host(fleet, nova_conf):
    (src,) = fleet.host(SOURCE, gpu(3))
    fleet.host('h-full1', gpu(3, total=1, used=1))
    fleet.host('h-full2', gpu(3, total=2, used=2))
    vm = fleet.allocate('vm', src)

    status, result = run_json(nova_conf, 'drain', SOURCE)

    assert status == 1
    server = _by_consumer(result)[vm]
    assert [(u['host'], u['why']) for u in server['not_used']] == [
        ('h-full1', drain.FULL), ('h-full2', drain.FULL)]


def test_a_stream_nobody_accepts(fleet, nova_conf):
    (src,) = fleet.host(SOURCE, gpu(0, major=2))
    fleet.host('h1', gpu(3))
    vm = fleet.allocate('vm', src)

    status, result = run_json(nova_conf, 'drain', SOURCE)

    assert status == 1
    why = _by_consumer(result)[vm]['stranded']
    assert why['why'] == drain.INCOMPATIBLE
    assert 'no device provider on another host accepts' in why['reason']


def test_assume_strands_a_server(fleet, nova_conf, tmp_path):
    (src,) = fleet.host(SOURCE, gpu(2))
    fleet.host('h1', gpu(2))
    fleet.host('h2', gpu(1))
    vm = fleet.allocate('vm', src)
    assert run_json(nova_conf, 'drain', SOURCE)[0] == 0

    # Downgrading h1's driver to 1.1 (or anything older than 1.2)
    # leaves the server nowhere to go.
    status, result = run_json(nova_conf, 'drain', SOURCE, '--assume',
                              'h1=%s' % document_file(tmp_path, 1))

    assert status == 1
    server = _by_consumer(result)[vm]
    assert server['stranded']['why'] == drain.INCOMPATIBLE
    assert result['assumptions'][0]['host'] == 'h1'


def test_assume_opens_a_destination(fleet, nova_conf, tmp_path):
    (src,) = fleet.host(SOURCE, gpu(3))
    fleet.host('h1', gpu(2))
    vm = fleet.allocate('vm', src)
    assert run_json(nova_conf, 'drain', SOURCE)[0] == 1

    status, result = run_json(nova_conf, 'drain', SOURCE, '--assume',
                              'h1=%s' % document_file(tmp_path, 4))

    assert status == 0
    assert _by_consumer(result)[vm]['plan']['host'] == 'h1'


def test_assume_on_the_drained_host_changes_its_streams(fleet, nova_conf,
                                                        tmp_path):
    (src,) = fleet.host(SOURCE, gpu(3))
    fleet.host('h1', gpu(2))
    fleet.allocate('vm', src)

    status, _ = run_json(nova_conf, 'drain', SOURCE, '--assume',
                         '%s=%s' % (SOURCE, document_file(tmp_path, 1)))

    assert status == 0


def test_a_server_with_two_devices_moves_both_to_one_host(fleet,
                                                          nova_conf):
    src = fleet.host(SOURCE, gpu(2), gpu(1))
    # one free VGPU on each GPU, or two on the one GPU that takes both
    pair = fleet.host('h-pair', gpu(2, total=1), gpu(3, total=1))
    (both,) = fleet.host('h-both', gpu(3, total=2))
    # accepts only one of the two streams
    fleet.host('h-half', gpu(1, total=4))
    vm = fleet.allocate('vm', *src)

    status, result = run_json(nova_conf, 'drain', SOURCE)

    assert status == 0
    server = _by_consumer(result)[vm]
    assert [d['provider'] for d in server['devices']] == sorted(src)
    names = {uuid: fleet.conn.placement.get_resource_provider(uuid).name
             for uuid in pair + [both]}
    first = names[pair[0]]
    second = names[pair[1]]
    destinations = {(d['host'], tuple(d['providers']))
                    for d in server['destinations']}
    # Every pairing of the source devices with GPUs of one host that the
    # rules accept and that has room; h-half accepts the 1.1 stream only,
    # so it is none of them.
    by_device = [fleet.documents[d['provider']] for d in server['devices']]
    expected = set()
    for host, uuids in (('h-pair', pair), ('h-both', [both])):
        for dests in itertools.product(uuids, repeat=2):
            if dests[0] == dests[1] and host == 'h-pair':
                continue        # one VGPU each: not both on one
            if all(rules.check(src_doc, fleet.documents[d]).compatible
                   for src_doc, d in zip(by_device, dests)):
                expected.add((host, tuple(names[d] for d in dests)))
    assert destinations == expected
    assert ('h-both', (names[both], names[both])) in destinations
    assert ('h-pair', (first, second)) in destinations
    _assert_plan_follows_the_rules(fleet, result)


def test_a_device_the_reporter_does_not_describe_is_not_checked(
        fleet, nova_conf):
    described, undescribed = fleet.host(SOURCE, gpu(2), gpu(None))
    fleet.host('h1', gpu(2))
    vm = fleet.allocate('vm', described)
    other = fleet.allocate('other', undescribed)

    status, result = run_json(nova_conf, 'drain', SOURCE)

    assert status == 0
    assert [s['consumer'] for s in result['servers']] == [vm]
    assert result['unchecked'] == [{
        'consumer': other, 'name': None,
        'providers': ['%s_pci_0000_82_00_0' % SOURCE]}]
    assert 'Not checked: %s' % other in run(nova_conf, 'drain', SOURCE)[1]


def test_nothing_to_move(fleet, nova_conf):
    fleet.host(SOURCE, gpu(2))
    status, out, _ = run(nova_conf, 'drain', SOURCE)
    assert status == 0
    assert 'No server holds device resources on %s' % SOURCE in out


def test_text_output_names_destinations_and_the_stranded(fleet, nova_conf):
    (src,) = fleet.host(SOURCE, gpu(2))
    fleet.host('h-last', gpu(2, total=1))
    fleet.allocate('vm0', src)
    fleet.allocate('vm1', src)

    status, out, _ = run(nova_conf, 'drain', SOURCE)

    assert status == 1
    assert 'can go   h-last' in out
    assert '-> h-last (h-last_pci_0000_81_00_0)' in out
    assert 'STRANDED: ' in out
    assert '1 of 2 servers placed, 1 stranded.' in out


def test_bad_input_exits_2(fleet, nova_conf, tmp_path):
    fleet.host(SOURCE, gpu(2))
    fleet.host('h1', gpu(2))
    bad_doc = tmp_path / 'bad.yaml'
    bad_doc.write_text('device_api: [\n')
    other_family = tmp_path / 'other.yaml'
    other_family.write_text(
        'device_api: vfio-pci\nvendor: i915\nversion: {major: 1, minor: 2}'
        '\nvfio-pci: {vendor: 0x8086, device: 0x591d, subsystem_vendor: '
        '0x8086, subsystem_device: 0x0003}\n')
    cases = [
        (('drain',), 'the following arguments are required: HOST'),
        (('drain', 'no-such-host'), 'no-such-host'),
        (('drain', SOURCE, '--assume', 'h1'), 'expected HOST=DOCUMENT'),
        (('drain', SOURCE, '--assume', 'h1=%s' % bad_doc), str(bad_doc)),
        (('drain', SOURCE, '--assume', 'h1=%s' % (tmp_path / 'missing')),
         'missing'),
        (('drain', SOURCE, '--assume', 'nohost=%s' % document_file(
            tmp_path, 1)), 'nohost'),
        (('drain', SOURCE, '--assume', 'h1=%s' % other_family),
         'no device provider of h1'),
    ]
    for argv, named in cases:
        status, out, err = run(nova_conf, *argv)
        assert status == 2, (argv, out, err)
        assert named in err, (argv, err)
        assert 'Traceback' not in err


def test_without_placement_credentials_exits_2(tmp_path):
    empty = tmp_path / 'empty.conf'
    empty.write_text('')
    status, _, err = run(str(empty), 'drain', SOURCE)
    assert status == 2
    assert '[placement] auth_type' in err


def test_placement_not_answering_exits_2(tmp_path):
    # Nothing listens on the discard port: the connection is refused.
    conf = tmp_path / 'nova.conf'
    conf.write_text('[placement]\nauth_type = admin_token\n'
                    'endpoint = http://127.0.0.1:9/placement\n'
                    'token = admin\n')
    for command in ('drain', 'fleet'):
        argv = (command, SOURCE) if command == 'drain' else (command,)
        status, _, err = run(str(conf), *argv)
        assert status == 2, err
        assert 'Placement GET /' in err
        assert 'Traceback' not in err


def test_a_disabled_host_is_no_destination(fleet, nova_conf):
    # Nova's COMPUTE_STATUS_DISABLED on the root of a disabled compute
    # service: its scheduler never picks it (root_required).
    (src,) = fleet.host(SOURCE, gpu(2))
    fleet.host('h-off', gpu(2))
    fleet.host('h-on', gpu(2, total=1))
    off = next(iter(fleet.conn.placement.resource_providers(name='h-off')))
    c_set_traits(fleet.conn, off, ('COMPUTE_NODE', 'OWNER_NOVA',
                                   'COMPUTE_STATUS_DISABLED'))
    fleet.allocate('vm0', src)
    fleet.allocate('vm1', src)

    status, result = run_json(nova_conf, 'drain', SOURCE)

    assert status == 1
    assert result['disabled'] == [{'host': 'h-off', 'node': 'h-off'}]
    for server in result['servers']:
        assert {d['host'] for d in server['destinations']} == {'h-on'}
        for device in server['devices']:
            assert not [p for p in device['accepted_by']
                        if p.startswith('h-off')]
    assert result['placed'] == 1 and result['stranded'] == 1
    assert result['not_checked'] == list(drain.NOT_CHECKED)

    status, out, _ = run(nova_conf, 'drain', SOURCE)
    assert status == 1
    assert 'Disabled, not destinations: h-off' in out
    assert 'Not checked' in out and 'server group' in out
    assert 'NUMA' in out and 'hypervisor' in out and 'RAM' in out


def _recording_view(conn):
    """A PlacementView over ``conn`` and the list of URLs it reads."""
    urls = []
    get = placement_view.sdk_get(conn)

    def recording(url, microversion):
        urls.append(url)
        return get(url, microversion)
    return placement_view.PlacementView(recording), urls


def test_drain_reads_only_what_the_plan_can_use(fleet):
    # Two GPUs of stream 1.2, one of 1.3: two distinct streams, and
    # three distinct demands (1 VGPU of 1.2, 2 VGPU of 1.2, 2 of 1.3).
    src = fleet.host(SOURCE, gpu(2, total=8), gpu(2, total=8),
                     gpu(3, total=8))
    for i in range(3):
        fleet.allocate('a%d' % i, src[0])
    fleet.allocate('b', src[1])
    fleet.allocate('c', src[1], amount=2)
    fleet.allocate('d', src[2], amount=2)
    fleet.host('h1', gpu(2))
    fleet.host('h2', gpu(3))
    fleet.host('h3', gpu(1))
    view, urls = _recording_view(fleet.conn)

    inputs = placement_view.read_drain(view, SOURCE)

    assert len(inputs.servers) == 6
    # Never the whole cloud's providers.
    assert '/resource_providers' not in urls
    listings = [u for u in urls if u.startswith('/resource_providers?')
                and 'required=' in u and 'DISABLED' not in u
                and 'COMPUTE_NODE' not in u]
    # The destinations' hosts: one listing of the compute nodes, however
    # many (no read per host).
    assert urls.count('/resource_providers?required=COMPUTE_NODE') == 1
    assert not [u for u in urls if u.startswith('/resource_providers/')
                and u.count('/') == 2], urls
    # Who accepts: one per distinct streams (2).  Who of those has room
    # for each distinct streams and amounts needs no listing here: every
    # demand is one device, and its allocation candidates, read whole,
    # are those providers (test_with_room_is_what_the_listing_says).
    assert len(listings) == len(set(listings)) == 2, listings
    assert not [u for u in listings if 'resources=' in u], listings
    candidates = [u for u in urls if u.startswith('/allocation_candidates')]
    assert len(candidates) == 3
    assert all('limit=%d' % (placement_view.CANDIDATE_LIMIT + 1) in u
               for u in candidates)
    assert inputs.truncated == frozenset()
    assert len(urls) == len(set(urls)), urls


def test_a_host_nova_did_not_mark_is_still_named(fleet):
    """A root without COMPUTE_NODE is read on its own, never unnamed.

    Nova's resource tracker marks every compute node; a root another
    service made, or an older Nova's, is not in that listing.
    """
    src = fleet.host(SOURCE, gpu(2))
    fleet.allocate('a', src[0])
    fleet.host('h1', gpu(2))
    fleet.host('h2', gpu(2))
    unmarked = next(iter(fleet.conn.placement.resource_providers(
        name='h2')))
    c_set_traits(fleet.conn, unmarked, ['OWNER_NOVA'])
    view, urls = _recording_view(fleet.conn)

    inputs = placement_view.read_drain(view, SOURCE)

    assert urls.count('/resource_providers?required=COMPUTE_NODE') == 1
    assert '/resource_providers/%s' % unmarked.id in urls
    assert {inputs.hosts[u] for u in fleet.gpus['h1'] + fleet.gpus['h2']} \
        == {'h1', 'h2'}
    (options,) = inputs.options.values()
    assert {o.host for o in options} == {'h1', 'h2'}


def _answers_view(conn):
    """A PlacementView over ``conn`` and the ``(url, body)`` it reads."""
    answers = []
    get = placement_view.sdk_get(conn)

    def recording(url, microversion):
        answers.append((url, get(url, microversion)))
        return answers[-1][1]
    return placement_view.PlacementView(recording), answers


def _with_room_by_listing(view, inputs):
    """``roomy`` as one listing per device would say it."""
    known = view.known(n for s in inputs.servers for d in s.devices
                       for st in d.streams
                       for n in compatibility.accept_names(st))
    out = {}
    for server in inputs.servers:
        for d in server.devices:
            query = placement_view.required_for(d.streams, known)
            listed = set(view.carrying(query, d.resources))
            out[d.provider] = inputs.acceptors[d.provider] & listed
    return out


@pytest.fixture(scope='module')
def every_room(shared_placement):
    """:func:`_fleet_of_every_room`, once for the tests that only read it.

    Each reads it through its own view (:func:`_answers_view`).
    """
    fleet = Fleet(shared_placement)
    _fleet_of_every_room(fleet)
    return fleet


def _fleet_of_every_room(fleet):
    """Destinations with room for 2 VGPU, for 1 only, for none.

    Also a disabled host, and a server of two devices (its demand is no
    one device's).
    """
    src = fleet.host(SOURCE, gpu(2, total=8), gpu(2, total=8),
                     gpu(3, total=8))
    fleet.allocate('a', src[0])
    fleet.allocate('b', src[0], amount=2)
    fleet.allocate('c', src[2], amount=2)
    fleet.allocate('two', src[1], src[2])
    fleet.host('h-roomy', gpu(2), gpu(3))
    fleet.host('h-one', gpu(2, total=2, used=1), gpu(3, total=1))
    fleet.host('h-full', gpu(2, total=2, used=2), gpu(3, total=1, used=1))
    fleet.host('h-off', gpu(2), gpu(3))
    off = next(iter(fleet.conn.placement.resource_providers(name='h-off')))
    c_set_traits(fleet.conn, off, ('COMPUTE_NODE', 'OWNER_NOVA',
                                   'COMPUTE_STATUS_DISABLED'))


@pytest.mark.parametrize('limit', [placement_view.CANDIDATE_LIMIT, 1])
def test_with_room_is_what_the_listing_says(every_room, limit):
    # Who has room for a device comes from the allocation candidates of
    # a one-device demand read whole, else from a listing: both say the
    # same, also where the candidates were cut (limit 1) or the demand
    # is two devices.
    view, answers = _answers_view(every_room.conn)

    inputs = placement_view.read_drain(view, SOURCE, limit=limit)
    with_room = [u for u, _ in answers if 'resources=' in u and
                 u.startswith('/resource_providers?')]

    assert len(inputs.servers) == 4
    assert inputs.roomy == _with_room_by_listing(view, inputs)
    by_name = {name: uuid for uuid, name in inputs.names.items()}
    one = by_name['h-one_pci_0000_81_00_0']
    assert {one, by_name['h-roomy_pci_0000_81_00_0']} <= set().union(
        *inputs.roomy.values())
    assert not [u for u in set().union(*inputs.roomy.values())
                if inputs.hosts[u] in ('h-full', 'h-off', SOURCE)]
    if limit == 1:
        # Every one-device answer was cut: one listing per distinct
        # streams and amounts (1 and 2 VGPU of 1.2 and of 1.3).
        assert len(with_room) == 4, with_room
    else:
        # Only for 1 VGPU of 1.3, a device of the two-device server
        # alone: the one-device demands' candidates answered the rest.
        assert len(with_room) == 1, with_room


def test_drain_reads_each_provider_once_per_question(every_room):
    # The bound on what drain reads: a provider is in at most one
    # who-accepts listing per distinct streams of the drained devices
    # and in at most one allocation-candidates answer per distinct
    # demand; nothing lists the same providers a third time.
    view, answers = _answers_view(every_room.conn)

    inputs = placement_view.read_drain(view, SOURCE)

    streams = {d.streams for s in inputs.servers for d in s.devices}
    demands = {s.demand() for s in inputs.servers}
    listed, summarised = collections.Counter(), collections.Counter()
    for url, body in answers:
        if url.startswith('/resource_providers?') and 'DISABLED' not in \
                url and 'required=' in url:
            listed.update(rp['uuid'] for rp in body['resource_providers'])
        elif url.startswith('/allocation_candidates?'):
            summarised.update(list(body['provider_summaries']))
    # The two-device server's devices are asked with room by listing:
    # one more question each for the providers accepting them.
    two = [s for s in inputs.servers if len(s.devices) == 2]
    assert max(listed.values()) <= len(streams) + sum(
        len(s.devices) for s in two), listed
    assert max(summarised.values()) <= len(demands), summarised


def test_more_candidates_than_the_limit_are_cut_and_said(fleet, nova_conf):
    # The drained GPU is full, so every candidate is another host's.
    (src,) = fleet.host(SOURCE, gpu(2, total=2))
    for i in range(3):
        fleet.host('h%d' % i, gpu(2, total=1))
    vms = [fleet.allocate('vm%d' % i, src) for i in range(2)]
    view = placement_view.PlacementView(placement_view.sdk_get(fleet.conn))

    inputs = placement_view.read_drain(view, SOURCE, limit=2)

    assert inputs.truncated == frozenset(vms)
    for vm in vms:
        assert len(inputs.options[vm]) == 2
    plan, stranded = drain.plan_and_explain(
        inputs.servers, inputs.options, inputs.free, inputs.acceptors,
        inputs.names)
    result = report.drain(inputs, inputs.servers, plan, stranded, {})
    assert result['candidate_limit'] == 2
    assert result['placed'] == 2
    for server in result['servers']:
        assert server['truncated'] is True
        (unread,) = [u for u in server['not_used']
                     if u['why'] == drain.NOT_OFFERED]
        assert 'not among the first 2 allocation candidates read' in \
            unread['reason']
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        maintenance.print_drain(result)
    assert '(of the first 2 allocation candidates only)' in out.getvalue()

    # The command reads up to the default limit: nothing is cut here.
    status, result = run_json(nova_conf, 'drain', SOURCE)
    assert status == 0
    assert result['candidate_limit'] == placement_view.CANDIDATE_LIMIT
    assert not any(s['truncated'] for s in result['servers'])
    assert [len(s['destinations']) for s in result['servers']] == [3, 3]
