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

"""``drain`` and ``fleet`` reach Placement through clouds.yaml
(``--os-cloud`` or ``OS_CLOUD``), with no nova.conf and no config file."""

import contextlib
import io
import json

import pytest

from nova_vfio_compat.cmd import cli
from tests.functional.planning.conftest import gpu

CLOUD = 'vfc-test'


@pytest.fixture
def clouds(tmp_path, placement, monkeypatch):
    path = tmp_path / 'clouds.yaml'
    path.write_text(
        'clouds:\n'
        '  %s:\n'
        '    auth_type: admin_token\n'
        '    auth:\n'
        '      endpoint: %s\n'
        '      token: admin\n' % (CLOUD, placement.endpoint))
    monkeypatch.setenv('OS_CLIENT_CONFIG_FILE', str(path))
    monkeypatch.delenv('OS_CLOUD', raising=False)
    # No configuration file of the project's is read.
    monkeypatch.setenv('HOME', str(tmp_path))
    return str(path)


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(list(argv))
        except SystemExit as e:
            status = e.code
    return status, out.getvalue(), err.getvalue()


def test_fleet_with_os_cloud_after_the_command(fleet, clouds):
    fleet.host('old', gpu(1))
    fleet.host('new', gpu(2))
    status, out, err = run('fleet', '--json', '--os-cloud', CLOUD)
    assert status == 0, err
    (family,) = json.loads(out)['families']
    assert family['groups'] == [['new'], ['old']]


def test_drain_with_os_cloud_from_the_environment(fleet, clouds,
                                                  monkeypatch):
    src = fleet.host('src', gpu(1))
    fleet.host('dst', gpu(2))
    fleet.allocate('vm1', src[0])
    monkeypatch.setenv('OS_CLOUD', CLOUD)
    status, out, err = run('drain', 'src', '--json')
    assert status == 0, err
    (server,) = json.loads(out)['servers']
    assert server['plan']['host'] == 'dst'


def test_an_unknown_cloud_is_one_line_naming_it(clouds):
    status, out, err = run('fleet', '--os-cloud', 'nosuchcloud')
    assert status == 2
    assert 'nosuchcloud' in err
    assert len(err.splitlines()) == 1
