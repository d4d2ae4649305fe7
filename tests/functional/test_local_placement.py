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

"""The one Placement harness: both ways of running it are the same service.

The demo and the tests of other processes run it in a child process
behind a socket; the benchmarks in this process behind wsgi-intercept.
Both answer the same requests the same way, through openstacksdk and the
keystoneauth adapter Nova's report client wraps.
"""

import time
import types
import urllib.error
import urllib.request

import pytest
import sqlalchemy.pool.base

from nova_vfio_compat.demo import local_placement

TRAIT = 'CUSTOM_LOCAL_PLACEMENT_CHECK'


def _exercise(placement):
    """Create a provider with a custom trait; what Placement answers."""
    pl = placement.sdk.placement
    pl.create_trait(TRAIT)
    rp = pl.create_resource_provider(name='harness-check')
    current = pl.get_resource_provider_trait(rp.id)
    pl.set_resource_provider_trait(current, traits=[TRAIT])
    nova = placement.nova_adapter()
    found = nova.get('/resource_providers?required=%s' % TRAIT,
                     microversion='1.18').json()['resource_providers']
    missing = nova.get('/resource_providers/%s' % ('0' * 32),
                       microversion='1.18')
    return ([p['name'] for p in found], missing.status_code,
            sorted(pl.get_resource_provider_trait(rp.id).traits))


@pytest.fixture(scope='module')
def child_answer():
    with local_placement.LocalPlacement() as placement:
        answer = _exercise(placement)
        endpoint = placement.endpoint
    # close() stops the server: nothing is left listening.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(endpoint, timeout=2)
    return answer


def test_in_process_and_child_process_answer_alike(child_answer):
    placement = local_placement.in_process()
    try:
        assert _exercise(placement) == child_answer == (
            ['harness-check'], 404, [TRAIT])
        # In this process the requests are counted: two trait reads, a
        # trait and a provider created, the traits set, two Nova reads.
        assert placement.app.writes == 3
        assert placement.app.counts['GET'] >= 4
        placement.app.reset()
        assert placement.app.total == 0
    finally:
        placement.close()


def test_in_process_placement_outlives_the_pool_recycle_time(monkeypatch):
    # Its database lives in memory, on the one pooled connection: a
    # connection recycled after oslo.db's default hour would open a new,
    # empty database ("no such table"), so a long benchmark lost its
    # Placement.  The hour passing is the clock's, planted.
    placement = local_placement.in_process()
    try:
        pl = placement.sdk.placement
        pl.create_trait(TRAIT)
        later = time.time() + 2 * 3600
        monkeypatch.setattr(sqlalchemy.pool.base, 'time',
                            types.SimpleNamespace(time=lambda: later))
        nova = placement.nova_adapter()
        answer = nova.get('/traits?name=in:%s' % TRAIT, microversion='1.6')
        assert answer.status_code == 200, answer.text
        assert answer.json()['traits'] == [TRAIT]
    finally:
        placement.close()
