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

"""Every Placement request has a total deadline, not only a read timeout.

A real server on the loopback interface answers one byte every 50 ms:
each read comes well within the clients' per-read timeout (2 s), and a
whole answer takes about 20 s.  The reporter, ``drain``, ``fleet`` and the
scheduler filter (through Nova's own report client) each give up at
their deadline (1 s here) with an error naming the request.
"""

import logging
import time

from keystoneauth1 import adapter
from keystoneauth1 import session
from keystoneauth1 import token_endpoint
from nova import objects
from nova.scheduler.client import report
import pytest

from nova_vfio_compat.demo import local_placement
from nova_vfio_compat.reporter import client
from nova_vfio_compat.reporter import sync
from nova_vfio_compat.scheduler import vfio_compat_filter
from tests.functional.planning import conftest as planning
from tests.functional.reliability import trickle

DEADLINE = 1.0
READ_TIMEOUT = 2.0
# A request that ends at its deadline, on a loaded 2-core machine.
WITHIN = DEADLINE + 2.0
UUID = '4e8e5957-649f-477b-9e5b-f1f75b21c03c'


@pytest.fixture
def slow():
    with trickle.Trickle({'resource_providers': [], 'pad': 'x' * 300},
                         ) as server:
        # The answer outlasts the deadline many times over, each byte
        # well within the read timeout.
        assert server.full_answer_seconds > 4 * WITHIN
        assert server.delay < READ_TIMEOUT / 10
        yield server


def _timed(call):
    start = time.monotonic()
    value = call()
    return value, time.monotonic() - start


def test_the_reporter_gives_up_a_trickling_request_at_its_deadline(slow):
    conn = client.check_answers(
        local_placement.sdk_connection(slow.endpoint, timeout=READ_TIMEOUT),
        DEADLINE)
    result, took = _timed(lambda: sync.Reporter(conn, 'cn1').sync([]))
    assert took < WITHIN
    assert result.placement_failed
    (error,) = result.errors
    # The SDK's first request: version discovery at the endpoint.
    assert 'GET %s/: ' % slow.endpoint in error
    assert 'deadline of 1 s' in error


@pytest.mark.parametrize('argv', [('drain', 'cn1'), ('fleet',)])
def test_drain_and_fleet_give_up_at_the_deadline_and_exit_2(
        slow, tmp_path, argv):
    conf = tmp_path / 'nova.conf'
    conf.write_text('[placement]\nauth_type = admin_token\nendpoint = %s\n'
                    'token = admin\ntimeout = %g\ndeadline = %g\n'
                    % (slow.endpoint, READ_TIMEOUT, DEADLINE))
    (status, out, err), took = _timed(
        lambda: planning.run(str(conf), *argv))
    assert took < WITHIN
    assert status == 2, err
    assert 'GET %s/: ' % slow.endpoint in err
    assert 'deadline of 1 s' in err


def _spec(ignore_hosts=('source',)):
    objects.register_all()
    return objects.RequestSpec(
        instance_uuid=UUID, ignore_hosts=list(ignore_hosts),
        flavor=objects.Flavor(extra_specs={}), scheduler_hints={},
        num_instances=1)


@pytest.mark.parametrize('fail_open', [False, True])
def test_the_filter_gives_up_at_its_deadline_through_novas_client(
        slow, monkeypatch, caplog, fail_open):
    # Nova's own report client (a keystoneauth adapter with Nova's
    # per-read timeout), pointed at the trickling server.
    nova_client = report.SchedulerReportClient(adapter=adapter.Adapter(
        session.Session(auth=token_endpoint.Token(slow.endpoint, 'admin'),
                        timeout=READ_TIMEOUT),
        service_type='placement', raise_exc=False))
    monkeypatch.setattr(report, 'report_client_singleton',
                        lambda: nova_client)
    conf = vfio_compat_filter.CONF
    conf.set_override('placement_deadline', DEADLINE,
                      group='vfio_compat_filter')
    conf.set_override('fail_open', fail_open, group='vfio_compat_filter')
    migration = vfio_compat_filter.LiveMigration(UUID, 'source', UUID)
    the_filter = vfio_compat_filter.VFIOCompatFilter(
        live_migration=lambda spec_obj: migration)
    hosts = [object(), object()]
    try:
        with caplog.at_level(logging.ERROR):
            passed, took = _timed(
                lambda: list(the_filter.filter_all(hosts, _spec())))
    finally:
        conf.clear_override('placement_deadline',
                            group='vfio_compat_filter')
        conf.clear_override('fail_open', group='vfio_compat_filter')
    assert took < WITHIN
    assert passed == (hosts if fail_open else [])
    (line,) = [r.getMessage() for r in caplog.records
               if r.levelno >= logging.ERROR]
    assert 'GET /allocations/%s' % UUID in line
    assert 'deadline of 1 s' in line
