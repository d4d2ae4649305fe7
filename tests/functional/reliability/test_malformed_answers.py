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

"""The reporter against a real Placement whose answers are malformed.

Every documented field of every answer the reporter reads (and of the
traits PUT's answer) is given a wrong type, a wrong value or is left out
by :class:`faults.FaultyNetwork` in front of the real Placement app.  In
every case the sync fails with an error naming the request, writes nothing
from the bad answer, never removes a trait it does not own (checked at
every accepted write by the network and before/after here), and the next
syncs converge once the answers heal.  The service, fed malformed answers
at random, keeps running and converges when they stop.
"""

import dataclasses
import threading
import time

import pytest

from nova_vfio_compat.model import traits
from nova_vfio_compat.reporter import plan as sync_plan
from nova_vfio_compat.reporter import service
from nova_vfio_compat.reporter import sync
from tests.functional.reliability import conftest as rc
from tests.functional.reliability import faults
from tests.functional.reliability import test_faults as tf
from tests import reporter_devices as rd

HOST = tf.HOST
LISTING = r'/resource_providers$'
RP_TRAITS = r'/resource_providers/[^/]+/traits$'
TRAITS = r'/traits$'
CLASSES = r'/resource_classes$'


def _with(key, value):
    return lambda body: dict(body, **{key: value})


def _without(key):
    return lambda body: {k: v for k, v in body.items() if k != key}


def _each_provider(key, value):
    def malform(body):
        return dict(body, resource_providers=[
            dict(rp, **{key: value}) for rp in body['resource_providers']])
    return malform


def _each_provider_without(key):
    def malform(body):
        return dict(body, resource_providers=[
            {k: v for k, v in rp.items() if k != key}
            for rp in body['resource_providers']])
    return malform


def _whole(value):
    return lambda body: value


# (id, method, path, malform): every documented field of every answer the
# reporter reads.
CASES = [
    # GET /resource_providers/{uuid}/traits: the answer written back.
    ('traits-a-string', 'GET', RP_TRAITS, _with('traits', 'CUSTOM_X')),
    ('traits-not-strings', 'GET', RP_TRAITS, _with('traits', [1, 2])),
    ('traits-a-mapping', 'GET', RP_TRAITS, _with('traits', {'A': 1})),
    ('traits-null', 'GET', RP_TRAITS, _with('traits', None)),
    ('traits-missing', 'GET', RP_TRAITS, _without('traits')),
    ('trait-name-malformed', 'GET', RP_TRAITS,
     _with('traits', ['not a trait'])),
    ('generation-a-string', 'GET', RP_TRAITS,
     _with('resource_provider_generation', '1')),
    ('generation-a-float', 'GET', RP_TRAITS,
     _with('resource_provider_generation', 1.0)),
    ('generation-a-bool', 'GET', RP_TRAITS,
     _with('resource_provider_generation', True)),
    ('generation-negative', 'GET', RP_TRAITS,
     _with('resource_provider_generation', -1)),
    ('generation-missing', 'GET', RP_TRAITS,
     _without('resource_provider_generation')),
    ('traits-body-a-list', 'GET', RP_TRAITS, _whole([])),
    ('traits-body-a-string', 'GET', RP_TRAITS, _whole('traits')),
    # The answer to the traits PUT (applied by Placement, answer bad).
    ('put-answer-traits-a-string', 'PUT', RP_TRAITS,
     _with('traits', 'CUSTOM_X')),
    ('put-answer-generation-null', 'PUT', RP_TRAITS,
     _with('resource_provider_generation', None)),
    # GET /resource_providers (the root by name, the tree).
    ('listing-garbage', 'GET', LISTING, _with('resource_providers',
                                              'garbage')),
    ('listing-items-not-objects', 'GET', LISTING,
     _with('resource_providers', ['x'])),
    ('listing-missing', 'GET', LISTING, _without('resource_providers')),
    ('provider-uuid-an-int', 'GET', LISTING, _each_provider('uuid', 12)),
    ('provider-uuid-not-a-uuid', 'GET', LISTING,
     _each_provider('uuid', '../../traits')),
    ('provider-name-null', 'GET', LISTING, _each_provider('name', None)),
    ('provider-name-missing', 'GET', LISTING,
     _each_provider_without('name')),
    ('provider-generation-a-string', 'GET', LISTING,
     _each_provider('generation', '0')),
    ('provider-root-an-int', 'GET', LISTING,
     _each_provider('root_provider_uuid', 7)),
    ('provider-parent-a-list', 'GET', LISTING,
     _each_provider('parent_provider_uuid', [])),
    ('listing-body-null', 'GET', LISTING, _whole(None)),
    # GET /traits?name=in:... (which traits exist).
    ('trait-listing-a-string', 'GET', TRAITS, _with('traits', 'CUSTOM_X')),
    ('trait-listing-nulls', 'GET', TRAITS, _with('traits', [None])),
    # GET /resource_classes.
    ('classes-a-string', 'GET', CLASSES, _with('resource_classes', 'x')),
    ('class-name-an-int', 'GET', CLASSES,
     _with('resource_classes', [{'name': 5}])),
]


@pytest.mark.parametrize('method, path, malform',
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_malformed_answer_writes_nothing_and_heals(tf_host, method, path,
                                                     malform):
    fp, foreign_before = tf_host
    devices = tf._devices()
    reporter = sync.Reporter(fp.conn, HOST)
    before = tf._state(fp.conn)
    fp.network.plan(faults.MALFORMED, count=1, method=method, path=path,
                    malform=malform)
    result = reporter.sync(devices)
    assert fp.network.injected.get(faults.MALFORMED), \
        'the sync never read the malformed answer; the test proves nothing'
    assert result.placement_failed
    assert not result.ok
    (error,) = [e for e in result.errors if 'malformed answer' in e]
    assert '%s /' % method in error
    if method == 'GET':
        # Nothing was written from the bad read: providers read before it
        # are as they were, and no foreign trait went anywhere.
        assert tf._foreign(tf._state(fp.conn)) == tf._foreign(before)
    assert not fp.network.violations
    fp.network.heal()
    assert tf._sync_until_ok(reporter, devices) == 1
    tf._assert_converged(fp.conn, devices, foreign_before)
    assert not fp.network.violations
    assert reporter.sync(devices).writes == 0


def test_the_original_bug_a_string_of_traits_is_not_written_back(tf_host):
    # The case that deleted OWNER_NOVA and the COMPUTE_* traits: a traits
    # answer whose "traits" is one trait name, with a valid generation.
    fp, foreign_before = tf_host
    devices = tf._devices()
    fp.network.plan(faults.MALFORMED, count=100, method='GET',
                    path=RP_TRAITS, malform=_with('traits', 'CUSTOM_X'))
    result = sync.Reporter(fp.conn, HOST).sync(devices)
    # No provider's traits were written (its resource classes may be
    # created: nothing in them comes from the bad answers).
    assert result.changes == {}
    assert result.created_traits == []
    assert result.placement_failed
    fp.network.heal()
    assert tf._foreign(tf._state(fp.conn)) == foreign_before
    assert not fp.network.violations


def test_a_malformed_answer_about_one_provider_spares_the_others(tf_host):
    fp, foreign_before = tf_host
    devices = tf._devices()
    pl = fp.conn.placement
    bad_name = sync_plan.mdev_parent_provider_name(HOST, rd.GVT_PARENT)
    (bad,) = pl.resource_providers(name=bad_name)
    fp.network.plan(faults.MALFORMED, count=100, method='GET',
                    path=r'/resource_providers/%s/traits$' % bad.id,
                    malform=_with('traits', 'CUSTOM_X'))
    reporter = sync.Reporter(fp.conn, HOST)
    result = reporter.sync(devices)
    assert result.placement_failed
    (error,) = result.errors
    assert error.startswith('resource provider %s not synced: ' % bad_name)
    assert 'malformed answer' in error
    # Every other provider got its traits; the bad one was left alone.
    assert set(result.changes) == set(tf._expected_owned(devices)) - {
        bad_name}
    fp.network.heal()
    state = tf._state(fp.conn)
    assert not {n for n in state[bad_name] if traits.is_owned(n)}
    assert tf._foreign(state) == foreign_before
    assert not fp.network.violations
    assert tf._sync_until_ok(reporter, devices) == 1
    tf._assert_converged(fp.conn, devices, foreign_before)


def test_the_service_survives_malformed_answers_and_converges(tf_host):
    fp, foreign_before = tf_host
    devices = tf._devices()
    kinds = [c for c in CASES if c[1] == 'GET']
    for _id, method, path, malform in kinds:
        fp.network.plan(faults.MALFORMED, count=1, method=method, path=path,
                        malform=malform)
    svc = service.Service(sync.Reporter(fp.conn, HOST), lambda: devices,
                          resync_interval=0.05, max_backoff=0.05)
    thread = threading.Thread(target=svc.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (fp.network.injected.get(faults.MALFORMED, 0) >= len(kinds)
                    and svc.failure is None and svc.syncs):
                break
            assert thread.is_alive(), 'the service ended'
            time.sleep(0.05)
        assert thread.is_alive()
        assert fp.network.injected[faults.MALFORMED] >= len(kinds) // 2
    finally:
        svc.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert svc.failure is None
    tf._assert_converged(fp.conn, devices, foreign_before)
    assert not fp.network.violations


@pytest.fixture(scope='module')
def laid_out(shared_faulty_placement):
    """One Placement and one host laid out as Nova does, for the module.

    A case costs its syncs, not a new Placement and layout: each starts
    from the host as laid out (:func:`tf_host`).
    """
    # Nothing stalls here: a generous client timeout keeps a loaded test
    # machine from turning into timeouts.
    fp = dataclasses.replace(shared_faulty_placement,
                             conn=rc.sdk(shared_faulty_placement.endpoint,
                                         timeout=30))
    tf._layout(fp.conn)
    pl = fp.conn.placement
    root = next(iter(pl.resource_providers(name=HOST)))
    providers = {rp.name: rp.id
                 for rp in pl.resource_providers(in_tree=root.id)}
    return fp, providers, tf._foreign(tf._state(fp.conn))


@pytest.fixture
def tf_host(laid_out):
    """The host as laid out: Nova's and the other agent's traits only.

    No fault planned, injected or seen by the case before. The traits
    the reporter created earlier exist in Placement, as they do on a
    cloud where another host published the same streams first.
    """
    fp, providers, foreign_before = laid_out
    network = fp.network
    network.heal()
    network.injected.clear()
    del network.violations[:]
    for name, uuid in providers.items():
        path = '/resource_providers/%s/traits' % uuid
        status, current = network.call_app('GET', path)
        assert status == 200, current
        status, body = network.call_app('PUT', path, {
            'traits': sorted(foreign_before[name]),
            'resource_provider_generation':
                current['resource_provider_generation']})
        assert (status, body['traits']) == (
            200, sorted(foreign_before[name])), body
    return fp, foreign_before
