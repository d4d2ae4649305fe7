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

"""When the filter warns that Placement's candidates were truncated.

Nova's harness runs the whole path (tests/nova/test_live_migration.py);
here the answers of Nova's query are given, including one that fails.
"""

import logging
import types

import pytest

from nova_vfio_compat.scheduler import vfio_compat_filter as vcf
from nova_vfio_compat.selection import decision
from tests.unit.selection import test_decision as td

SOURCE, REFUSING, ACCEPTING = 'root-a', 'root-b', 'root-c'
LIMIT = vcf.CONF.scheduler.max_placement_results


def _check(answers):
    streams = decision.Streams([td._source()], td._accepting({
        ('gpu-c', ACCEPTING): td.NEWER, (ACCEPTING, ACCEPTING): td.NEWER,
        ('gpu-b', REFUSING): td.OTHER_MAJOR}))

    def nova_candidates():
        if isinstance(answers, Exception):
            raise answers
        return answers
    return vcf.RequestCheck(
        'inst', streams,
        migration=vcf.LiveMigration('mig', 'a', SOURCE),
        nova_candidates=nova_candidates)


def _warnings(caplog, answers):
    host = types.SimpleNamespace(host='b', uuid=REFUSING,
                                 allocation_candidates=[])
    with caplog.at_level(logging.DEBUG, logger=vcf.__name__):
        assert list(_check(answers).filter([host])) == []
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING]


def test_an_answer_at_the_limit_without_the_accepting_host_warns(caplog):
    (warning,) = _warnings(caplog, [(LIMIT, frozenset([SOURCE, REFUSING]))])
    assert ('1 host(s) whose devices accept its streams were not among '
            'the %d allocation candidates Placement returned' % LIMIT
            in warning)


@pytest.mark.parametrize('answers', [
    # Below the limit: the accepting host has no room, nothing is cut.
    [(LIMIT - 1, frozenset([SOURCE, REFUSING]))],
    # In the answer: an earlier filter removed it.
    [(LIMIT, frozenset([SOURCE, REFUSING, ACCEPTING]))],
    # A named destination: no query.
    [],
    # Nova's query cannot be asked (Placement, a request spec it cannot
    # read): the decision stands, nothing is said.
    RuntimeError('no'),
])
def test_no_warning(caplog, answers):
    assert _warnings(caplog, answers) == []
