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

"""Placement older than 1.39: a clear error up front, not a 406 later.

The real Placement, made as old as one that stops at 1.38 (Xena): its
version list is cut there, so it both says so in ``GET /`` and refuses
1.39 requests.
"""

from placement import microversion
import pytest

from nova_vfio_compat.cmd import reporter as reporter_cmd
from nova_vfio_compat.placement import version as placement_version
from tests.functional.planning.conftest import gpu
from tests.functional.planning.conftest import run


@pytest.fixture
def placement_1_38(monkeypatch):
    versions = microversion.VERSIONS
    monkeypatch.setattr(microversion, 'VERSIONS',
                        versions[:versions.index('1.38') + 1])


@pytest.mark.parametrize('argv', [('drain', 'src'), ('fleet',),
                                  ('fleet', '--json')])
def test_planning_commands_name_the_version_needed(fleet, nova_conf,
                                                   placement_1_38, argv):
    status, out, err = run(nova_conf, *argv)
    assert status == 2, (out, err)
    assert 'up to 1.38' in err and 'microversion 1.39 or later' in err
    assert 'Traceback' not in err


def test_the_reporter_names_the_version_needed(placement, nova_conf,
                                               placement_1_38, capsys,
                                               tmp_path):
    devices = tmp_path / 'devices.yaml'
    devices.write_text('devices: []\n')
    own = tmp_path / 'reporter.conf'
    own.write_text('[reporter]\nroot_provider_name = h\ndevice_list = %s\n'
                   % devices)
    status = reporter_cmd.main(['--config-file', nova_conf, '--config-file',
                                str(own), '--once'])
    assert status == reporter_cmd.EXIT_INVALID
    err = capsys.readouterr().err
    assert 'up to 1.38' in err and 'microversion 1.39 or later' in err


def test_a_current_placement_passes(fleet, nova_conf):
    fleet.host('src', gpu(2))
    status, _, err = run(nova_conf, 'drain', 'src')
    assert status == 0, err


@pytest.mark.parametrize('body, ok', [
    ({'versions': [{'id': 'v1.0', 'max_version': '1.39'}]}, True),
    ({'versions': [{'id': 'v1.0', 'max_version': '1.40'}]}, True),
    ({'versions': [{'id': 'v1.0', 'max_version': '1.9'}]}, False),
    ({'versions': [{'id': 'v1.0', 'max_version': '1.38'}]}, False),
    ({'versions': []}, False), ({'error': 'x'}, False), ([], False),
    ({'versions': [{'id': 'v1.0', 'max_version': 'latest'}]}, False),
])
def test_check_of_the_version_document(body, ok):
    if ok:
        assert placement_version.check(body) >= (1, 39)
    else:
        with pytest.raises(placement_version.PlacementTooOld) as e:
            placement_version.check(body)
        assert '1.39' in str(e.value)
