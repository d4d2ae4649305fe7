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

"""drain, fleet and the filter against hostile answers of a real Placement.

:class:`faults.FaultyNetwork` in front of the real Placement app changes
its answers to the reads of ``drain`` and of the scheduler filter
(allocations, allocation candidates, a JSON body nested too deeply);
stray malformed ``CUSTOM_VFC_`` traits are real traits, written to the
real Placement as anyone with trait write access could.  ``drain`` and
``fleet`` exit 2 naming the request; the filter logs one line and applies
``fail_open``; nothing escapes.
"""

import logging
import types
import uuid

from keystoneauth1 import adapter
from keystoneauth1 import session
from keystoneauth1 import token_endpoint
from nova import objects
from nova.scheduler.client import report
import pytest

from nova_vfio_compat.model import traits
from nova_vfio_compat.scheduler import vfio_compat_filter
from tests.functional.planning import conftest as planning
from tests.functional.reliability import conftest as rc
from tests.functional.reliability import faults
from tests.functional.reporter import conftest as reporter_conftest

SOURCE = 'cn-source'
OTHER = str(uuid.UUID(int=7))
CANDIDATES = r'/allocation_candidates$'
RP_ALLOCATIONS = r'/resource_providers/[^/]+/allocations$'


def _cloud(faulty_placement, tmp_path):
    # Set up with a patient client: the machine may be loaded.
    fleet = planning.Fleet(types.SimpleNamespace(
        conn=rc.sdk(faulty_placement.endpoint, timeout=30),
        endpoint=faulty_placement.endpoint))
    (src,) = fleet.host(SOURCE, planning.gpu(2))
    (dest,) = fleet.host('cn-dest', planning.gpu(2))
    vm = fleet.allocate('vm1', src)
    conf = tmp_path / 'nova.conf'
    conf.write_text('[placement]\nauth_type = admin_token\nendpoint = %s\n'
                    'token = admin\n' % faulty_placement.endpoint)
    return faulty_placement, fleet, str(conf), src, dest, vm


@pytest.fixture
def cloud(faulty_placement, tmp_path):
    return _cloud(faulty_placement, tmp_path)


@pytest.fixture(scope='module')
def read_only_cloud(shared_faulty_placement, tmp_path_factory):
    """One cloud for the tests that only read it (drain): none changes it.

    Setting a cloud up costs four times what such a test does.
    """
    return _cloud(shared_faulty_placement, tmp_path_factory.mktemp('cloud'))


@pytest.fixture
def drain_cloud(read_only_cloud):
    placement = read_only_cloud[0]
    placement.network.heal()
    placement.network.injected.clear()
    yield read_only_cloud
    placement.network.heal()


def _set(path, value):
    def malform(body):
        node = body
        for key in path[:-1]:
            node = node[key] if not callable(key) else key(node)
        node[path[-1]] = value
        return body
    return malform


def _first(mapping):
    return mapping[sorted(mapping)[0]] if isinstance(mapping, dict) \
        else mapping[0]


def _drop(path):
    def malform(body):
        node = body
        for key in path[:-1]:
            node = node[key] if not callable(key) else key(node)
        del node[path[-1]]
        return body
    return malform


MALFORMED = [
    # GET /resource_providers/{uuid}/allocations of the drained host
    (RP_ALLOCATIONS, _set(['allocations'], None)),
    (RP_ALLOCATIONS, _set(['allocations'], 'vm1')),
    (RP_ALLOCATIONS, _set(['allocations', _first, 'resources'], None)),
    (RP_ALLOCATIONS, _set(['allocations', _first, 'resources'],
                          {'VGPU': 'one'})),
    (RP_ALLOCATIONS, _drop(['allocations', _first, 'resources'])),
    # GET /allocation_candidates
    (CANDIDATES, _set(['allocation_requests'], None)),
    (CANDIDATES, _set(['provider_summaries'], 'none')),
    (CANDIDATES, _drop(['allocation_requests', _first, 'mappings'])),
    (CANDIDATES, _set(['allocation_requests', _first, 'mappings'],
                      {'1': [OTHER]})),
    (CANDIDATES, _set(['allocation_requests', _first, 'allocations',
                       OTHER], {'resources': {'VGPU': 1}})),
    (CANDIDATES, _drop(['provider_summaries', _first, 'resources'])),
    (CANDIDATES, _set(['provider_summaries', _first, 'resources',
                       'VGPU'], {'capacity': None, 'used': 0})),
    (CANDIDATES, _drop(['provider_summaries', _first,
                        'root_provider_uuid'])),
    (CANDIDATES, _set(['provider_summaries', _first, 'traits'], 'X')),
]


@pytest.mark.parametrize('path,malform', MALFORMED)
def test_a_malformed_drain_answer_exits_2_naming_the_request(
        drain_cloud, path, malform):
    placement, fleet, conf, src, dest, vm = drain_cloud
    status, out, err = planning.run(conf, 'drain', SOURCE)
    assert status == 0, err
    placement.network.plan(faults.MALFORMED, method='GET', path=path,
                           malform=malform)
    status, out, err = planning.run(conf, 'drain', SOURCE)
    assert placement.network.injected == {faults.MALFORMED: 1}
    assert status == 2, err
    assert out == ''
    route = path.strip('$').replace('[^/]+', src)
    assert 'malformed answer from Placement' in err
    assert 'GET ' in err and route in err, err


def _stray_trait(placement, provider, name):
    conn = rc.sdk(placement.endpoint, timeout=30)
    rp = conn.placement.get_resource_provider(provider)
    current = conn.placement.get_resource_provider_trait(rp.id).traits
    reporter_conftest.set_traits(conn, rp, sorted(set(current) | {name}))


STRAY = [
    traits.EMIT_PREFIX + 'GARBAGE',
    # an out-of-range minor of a real stream
    None,
    traits.ACCEPT_PREFIX + 'X_M9_1',
]


def _stray_name(fleet, src, name):
    if name is not None:
        return name
    emit = next(iter(traits.emitted(fleet.conn.placement
                                    .get_resource_provider_trait(src)
                                    .traits)))
    return emit.rpartition('_M')[0] + '_M%d' % (traits.MAX_MINOR + 1)


@pytest.mark.parametrize('stray', STRAY)
def test_a_stray_malformed_trait_is_skipped_by_fleet_with_a_warning(
        cloud, stray):
    placement, fleet, conf, src, dest, vm = cloud
    status, before, err = planning.run(conf, 'fleet', '--json')
    assert status == 0, err
    name = _stray_name(fleet, src, stray)
    _stray_trait(placement, dest, name)
    status, after, err = planning.run(conf, 'fleet', '--json')
    assert status == 0, err
    assert after == before
    (warning,) = [line for line in err.splitlines() if name in line]
    assert 'WARNING' in warning and 'skipping 1 malformed trait' in warning
    # drain reads the source's traits: a stray one there is unknown too
    _stray_trait(placement, src, name)
    status, out, err = planning.run(conf, 'drain', SOURCE, '--json')
    assert status == 0, err


# -- the scheduler filter ---------------------------------------------------


def _filter(placement, monkeypatch, consumer, source_root):
    """The filter on Nova's own report client, for a live migration."""
    nova_client = report.SchedulerReportClient(adapter=adapter.Adapter(
        session.Session(auth=token_endpoint.Token(placement.endpoint,
                                                  'admin')),
        service_type='placement', raise_exc=False))
    monkeypatch.setattr(report, 'report_client_singleton',
                        lambda: nova_client)
    migration = vfio_compat_filter.LiveMigration(consumer, SOURCE,
                                                 source_root)
    return vfio_compat_filter.VFIOCompatFilter(
        live_migration=lambda spec_obj: migration)


class _Host:
    def __init__(self, root, name):
        self.uuid = root
        self.host = self.nodename = name
        self.allocation_candidates = []


def _spec(instance):
    objects.register_all()
    return objects.RequestSpec(
        instance_uuid=instance, ignore_hosts=[SOURCE],
        flavor=objects.Flavor(extra_specs={}), scheduler_hints={},
        num_instances=1)


def _root(placement, provider):
    return placement.conn.placement.get_resource_provider(
        provider).root_provider_id


NESTED = (b'{"allocations": ' + b'[' * 200000 + b']' * 200000 + b'}')


@pytest.mark.parametrize('fail_open', [False, True])
def test_a_deeply_nested_answer_to_the_filter_is_a_failed_read(
        cloud, monkeypatch, caplog, fail_open):
    placement, fleet, conf, src, dest, vm = cloud
    the_filter = _filter(placement, monkeypatch, vm, _root(placement, src))
    hosts = [_Host(_root(placement, dest), 'cn-dest')]
    placement.network.plan(faults.MALFORMED, method='GET',
                           path=r'/allocations/', malform=lambda b: NESTED)
    vfio_compat_filter.CONF.set_override('fail_open', fail_open,
                                         group='vfio_compat_filter')
    try:
        with caplog.at_level(logging.ERROR):
            passed = list(the_filter.filter_all(hosts, _spec(vm)))
    finally:
        vfio_compat_filter.CONF.clear_override('fail_open',
                                               group='vfio_compat_filter')
    assert placement.network.injected == {faults.MALFORMED: 1}
    assert passed == (hosts if fail_open else [])
    (line,) = [r.getMessage() for r in caplog.records
               if r.levelno >= logging.ERROR]
    assert 'GET /allocations/%s' % vm in line
    assert 'nested too deeply' in line


@pytest.mark.parametrize('stray', STRAY[:2])
def test_a_malformed_emit_trait_on_the_source_is_an_unknown_trait(
        cloud, monkeypatch, caplog, stray):
    placement, fleet, conf, src, dest, vm = cloud
    the_filter = _filter(placement, monkeypatch, vm, _root(placement, src))
    hosts = [_Host(_root(placement, dest), 'cn-dest')]
    name = _stray_name(fleet, src, stray)
    _stray_trait(placement, src, name)
    with caplog.at_level(logging.WARNING):
        passed = list(the_filter.filter_all(hosts, _spec(vm)))
    # The source's real stream is checked; the stray name is ignored.
    assert passed == hosts
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
