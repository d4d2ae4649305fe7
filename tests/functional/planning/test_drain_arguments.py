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

"""``drain`` refuses a host name that cannot be one, against a real
Placement where an empty name filter would match a host."""

import pytest

from nova_vfio_compat.cmd import maintenance
from tests.functional.planning.conftest import Fleet
from tests.functional.planning.conftest import gpu
from tests.functional.planning.conftest import run
from tests.functional.planning.conftest import write_nova_conf


@pytest.fixture(scope='module')
def two_hosts_conf(shared_placement, tmp_path_factory):
    """A nova.conf naming a Placement of two hosts, one server on src.

    One for the cases below: drain only reads.
    """
    fleet = Fleet(shared_placement)
    (src,) = fleet.host('src', gpu(2))
    fleet.host('dst', gpu(2))
    fleet.allocate('vm0', src)
    return write_nova_conf(tmp_path_factory.mktemp('two-hosts'),
                           shared_placement)


@pytest.mark.parametrize('host', [
    '', ' ', ' src', 'src ', 'src\n', 'a\tb', 'x' * 201])
def test_drain_refuses_a_host_that_cannot_be_named(two_hosts_conf, host):
    status, out, err = run(two_hosts_conf, 'drain', host, '--json')
    assert status == 2, (out, err)
    assert out == ''
    assert 'HOST %r' % host in err and 'Traceback' not in err


def test_assume_refuses_an_empty_host(fleet, nova_conf, tmp_path):
    (src,) = fleet.host('src', gpu(2))
    doc = tmp_path / 'doc.yaml'
    doc.write_text('x')
    status, out, err = run(nova_conf, 'drain', 'src', '--assume',
                           ' =%s' % doc)
    assert status == 2 and 'HOST' in err


def test_a_name_of_200_characters_is_a_name():
    assert maintenance.check_host('x' * 200) == 'x' * 200
