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

"""The reporter against a real Placement through faults.

Storms of real generation conflicts, 5xx answers, answers lost after the
write was applied, stalled requests (client timeouts), answers that are
not Placement's, a refused connection and Placement restarting in the
middle of a sync.  In every
case the reporter never raises, converges to exactly the owned traits
its devices call for, and never removes a trait it does not own: Nova's
(``COMPUTE_NODE``, ``OWNER_NOVA``), another agent's (``CUSTOM_OTHER_*``),
counted before and after, and checked at every accepted write by
:class:`faults.FaultyNetwork`.

Faults that the real Placement cannot be made to produce are injected by
the network in front of it (see :mod:`.faults`); a refused connection and
a restart are the real thing (:class:`LocalPlacement` stopped and
started).
"""

import socket
import time

from oslo_config import cfg
import pytest

from nova_vfio_compat import conf as nvc_conf
from nova_vfio_compat.conf import reporter as reporter_conf
from nova_vfio_compat.demo import local_placement
from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import client
from nova_vfio_compat.reporter import plan
from nova_vfio_compat.reporter import sync
from tests.functional.reliability import conftest as rc
from tests.functional.reliability import faults
from tests.functional.reporter import conftest as c
from tests import reporter_devices as rd

HOST = c.HOST
MAX_SYNCS = 40


def _devices():
    return [rd.gvt(), rd.vgpu(), rd.vf()]


def _layout(conn, host=HOST):
    c.nova_layout(conn, host=host,
                  mdev_parents=[rd.GVT_PARENT, rd.VGPU_PARENT], pci=[rd.VF])


def _state(conn, host=HOST):
    """{provider name: frozenset(traits)} of the host's tree."""
    pl = conn.placement
    root = next(iter(pl.resource_providers(name=host)))
    return {rp.name: frozenset(pl.get_resource_provider_trait(rp.id).traits)
            for rp in pl.resource_providers(in_tree=root.id)}


def _foreign(state):
    return {name: faults.foreign(names) for name, names in state.items()}


def _expected_owned(devices, host=HOST):
    """The owned traits per provider, from the documents themselves."""
    expected = {host: rd.root_traits(*devices)}
    for device in devices:
        if device.kind == rd.devices.KIND_MDEV_TYPE:
            name = plan.mdev_parent_provider_name(host, device.address)
            expected[name] = (expected.get(name, frozenset()) |
                              rd.published_traits(device))
    return expected


def _assert_converged(conn, devices, foreign_before, added_by_others=(),
                      host=HOST):
    state = _state(conn, host)
    expected = _expected_owned(devices, host)
    for name, names in state.items():
        owned = frozenset(n for n in names if traits.is_owned(n))
        assert owned == expected.get(name, frozenset()), name
        # Nothing foreign lost; only what other agents added is new.
        assert faults.foreign(names) - foreign_before[name] <= frozenset(
            added_by_others), name
        assert foreign_before[name] <= faults.foreign(names), name


def _sync_until_ok(reporter, devices):
    """Sync until a sync publishes everything; how many syncs it took."""
    for attempt in range(1, MAX_SYNCS + 1):
        result = reporter.sync(devices)     # never raises
        if result.ok:
            return attempt
    pytest.fail('no successful sync in %d attempts: %s'
                % (MAX_SYNCS, result.errors))


@pytest.fixture
def host(faulty_placement):
    _layout(faulty_placement.conn)
    return faulty_placement, _foreign(_state(faulty_placement.conn))


def test_conflict_storm_within_the_retries_converges_in_one_sync(host):
    fp, foreign_before = host
    fp.network.plan(faults.CONFLICT, count=3, method='PUT',
                    path=r'/resource_providers/.*/traits$')
    devices = _devices()
    result = sync.Reporter(fp.conn, HOST).sync(devices)
    assert result.ok, result.errors
    assert fp.network.injected == {faults.CONFLICT: 3}
    assert len(fp.network.other_agent_traits) == 3
    _assert_converged(fp.conn, devices, foreign_before,
                      fp.network.other_agent_traits)
    assert not fp.network.violations


def test_conflict_storm_beyond_the_retries_converges_later(host):
    fp, foreign_before = host
    storm = 3 * (reporter_conf.DEFAULTS['conflict_retries'] + 1)
    fp.network.plan(faults.CONFLICT, count=storm, method='PUT',
                    path=r'/resource_providers/.*/traits$')
    reporter = sync.Reporter(fp.conn, HOST)
    devices = _devices()
    first = reporter.sync(devices)
    assert not first.ok
    assert any('generation conflicts in a row' in e for e in first.errors)
    assert _sync_until_ok(reporter, devices) >= 1
    assert fp.network.injected[faults.CONFLICT] == storm
    _assert_converged(fp.conn, devices, foreign_before,
                      fp.network.other_agent_traits)
    assert not fp.network.violations
    # Converged means quiet: the next sync writes nothing.
    assert reporter.sync(devices).writes == 0


@pytest.mark.parametrize('kinds', [
    (faults.ERROR_5XX,),
    (faults.LOST_ANSWER,),
    (faults.ERROR_5XX, faults.LOST_ANSWER, faults.CONFLICT),
], ids=['5xx', 'lost-answers', 'mixed'])
def test_random_faults_converge_without_losing_foreign_traits(host, kinds):
    fp, foreign_before = host
    fp.network.random_faults(0.3, kinds, seed=len(kinds))
    reporter = sync.Reporter(fp.conn, HOST)
    devices = _devices()
    failures = 0
    for _ in range(MAX_SYNCS):
        result = reporter.sync(devices)
        if result.ok:
            break
        failures += 1
    fp.network.heal()
    assert failures > 0, 'no fault hit the sync; the test proves nothing'
    assert _sync_until_ok(reporter, devices) == 1
    _assert_converged(fp.conn, devices, foreign_before,
                      fp.network.other_agent_traits)
    assert not fp.network.violations
    assert reporter.sync(devices).writes == 0


@pytest.mark.parametrize('path', [
    r'/resource_providers$',                  # finding the root
    r'/resource_providers/.*/traits$',        # reading or writing traits
])
def test_stalled_requests_time_out_and_the_next_sync_converges(host, path):
    fp, foreign_before = host
    fp.network.plan(faults.STALL, count=1, path=path)
    reporter = sync.Reporter(fp.conn, HOST)
    devices = _devices()
    start = time.monotonic()
    result = reporter.sync(devices)
    # The client gave up on the stalled request instead of hanging.
    assert time.monotonic() - start < rc.CLIENT_TIMEOUT * 10
    assert result.placement_failed
    assert any('Placement request failed' in e for e in result.errors)
    assert fp.network.injected == {faults.STALL: 1}
    assert _sync_until_ok(reporter, devices) == 1
    _assert_converged(fp.conn, devices, foreign_before)
    assert not fp.network.violations


@pytest.mark.parametrize('path', [
    r'/resource_providers$',                  # finding the root
    r'/resource_providers/.*/traits$',        # reading a provider
])
def test_an_answer_that_is_not_placements_is_a_failed_sync(host, path):
    fp, foreign_before = host
    fp.network.plan(faults.GARBAGE, count=1, method='GET', path=path)
    reporter = sync.Reporter(fp.conn, HOST)
    devices = _devices()
    result = reporter.sync(devices)
    assert fp.network.injected == {faults.GARBAGE: 1}
    assert result.placement_failed
    assert _sync_until_ok(reporter, devices) == 1
    _assert_converged(fp.conn, devices, foreign_before)
    assert not fp.network.violations


# A real Placement process: refused connections and restarts ------------

def _port_outside_the_ephemeral_range():
    # The server is restarted on the port it had; a port the kernel hands
    # out for outgoing connections (as port 0 would be) can be taken by
    # one of this process's own client sockets while the server is down.
    with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
        low = int(f.read().split()[0])
    for port in range(low - 1, 1024, -7):
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port
    return 0


@pytest.fixture(scope='module')
def server():
    with local_placement.LocalPlacement(
            port=_port_outside_the_ephemeral_range()) as placement:
        yield placement


def _local_host(server, host):
    conn = rc.sdk(server.endpoint, timeout=5)
    _layout(conn, host)
    return conn


def test_connection_refused_then_converges(server):
    host = 'refused.example.com'
    conn = _local_host(server, host)
    foreign_before = _foreign(_state(conn, host))
    devices = _devices()
    server.stop()
    try:
        result = sync.Reporter(conn, host).sync(devices)
    finally:
        server.start()
    assert result.placement_failed
    assert result.writes == 0
    # A new connection, as the service makes after a failure.
    conn = rc.sdk(server.endpoint, timeout=5)
    assert _sync_until_ok(sync.Reporter(conn, host), devices) == 1
    _assert_converged(conn, devices, foreign_before, host=host)


def test_placement_restarting_mid_sync_then_converges(server):
    host = 'restart.example.com'
    conn = _local_host(server, host)
    foreign_before = _foreign(_state(conn, host))
    devices = _devices()
    restarted = []

    def restart_before_the_second_write(provider_name):
        restarted.append(provider_name)
        if len(restarted) == 2:
            server.stop()

    reporter = sync.Reporter(conn, host,
                             before_write=restart_before_the_second_write)
    try:
        result = reporter.sync(devices)
    finally:
        if server.process is None:
            server.start()
    assert len(restarted) == 2, restarted
    assert result.placement_failed
    # The first provider's write landed, the second did not.
    conn = rc.sdk(server.endpoint, timeout=5)
    state = _state(conn, host)
    assert any(traits.is_owned(n) for n in state[restarted[0]])
    assert not any(traits.is_owned(n) for n in state[restarted[1]])
    reporter = sync.Reporter(conn, host)
    assert _sync_until_ok(reporter, devices) == 1
    _assert_converged(conn, devices, foreign_before, host=host)
    assert reporter.sync(devices).writes == 0


def test_the_network_notices_a_write_that_drops_a_foreign_trait(host):
    # The invariant check itself can fail: a writer that replaces the
    # whole set (as a careless agent would) is caught.
    fp, _foreign_before = host
    pl = fp.conn.placement
    root = next(iter(pl.resource_providers(name=HOST)))
    pl.set_resource_provider_trait(pl.get_resource_provider_trait(root.id),
                                   traits=['COMPUTE_NODE'])
    assert fp.network.violations == [
        (root.id, sorted((c.NOVA_ROOT_TRAITS | {c.OTHER_AGENT_TRAIT}) -
                         {'COMPUTE_NODE'}))]


def test_a_reporter_built_from_configuration_has_a_request_timeout(
        tmp_path, faulty_placement):
    path = tmp_path / 'reporter.conf'
    path.write_text('[placement]\nauth_type = admin_token\n'
                    'endpoint = %s\ntoken = admin\n'
                    % faulty_placement.endpoint)
    conf = cfg.ConfigOpts()
    nvc_conf.register_all(conf)
    conf(['--config-file', str(path)])
    conn = client.connect(conf)
    # The reporter works through it...
    _layout(conn)
    assert sync.Reporter(conn, HOST).sync(_devices()).ok
    # ...and a stalled request would end.
    assert conn.session.timeout is not None
