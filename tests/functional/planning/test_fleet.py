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

"""``fleet`` against fleets the real reporter published to Placement."""

import json

from tests.functional.planning.conftest import document_file
from tests.functional.planning.conftest import gpu
from tests.functional.planning.conftest import run
from tests.functional.planning.conftest import typed_gpu

FAMILY = 'NVIDIA_10DE_1EB8'


def _family(nova_conf, *argv):
    status, out, err = run(nova_conf, 'fleet', '--json', *argv)
    assert status == 0, err
    (family,) = json.loads(out)['families']
    assert family['family'] == FAMILY
    return family


def test_groups_and_one_way_moves_of_a_fleet(fleet, nova_conf):
    fleet.host('old1', gpu(1))
    fleet.host('old2', gpu(1))
    fleet.host('new', gpu(2))
    fleet.host('mixed', gpu(1), gpu(2))
    fleet.host('other-major', gpu(0, major=2))

    family = _family(nova_conf)

    new = dict(family['hosts']['new'])
    assert new.pop('emit_traits') == family['streams']['1.2']
    assert new == {'emits': ['1.2'], 'accepts': ['1.1', '1.2'],
                   'mdev_types': ['nvidia-222']}
    assert family['hosts']['mixed']['emits'] == ['1.1', '1.2']
    assert family['groups'] == [['mixed', 'new'], ['old1', 'old2'],
                                ['other-major']]
    assert family['group_edges'] == [[1, 0]]
    assert family['can_move_to']['old1'] == ['mixed', 'new', 'old2']
    assert family['can_move_to']['new'] == ['mixed']
    assert family['can_move_to']['other-major'] == []


def test_assume_upgrading_hosts_merges_the_groups(fleet, nova_conf,
                                                  tmp_path):
    fleet.host('old1', gpu(1))
    fleet.host('old2', gpu(1))
    fleet.host('new', gpu(2))
    upgrade = document_file(tmp_path, 2)

    family = _family(nova_conf, '--assume', 'old1=%s' % upgrade,
                     '--assume', 'old2=%s' % upgrade)

    assert family['groups'] == [['new', 'old1', 'old2']]
    # nothing was written: without the assumption the fleet is as before
    assert _family(nova_conf)['groups'] == [['new'], ['old1', 'old2']]


def test_text_and_dot(fleet, nova_conf):
    fleet.host('old', gpu(1))
    fleet.host('new', gpu(2))

    status, text, _ = run(nova_conf, 'fleet')
    assert status == 0
    assert 'Family %s' % FAMILY in text
    assert '1: new' in text and '2: old' in text
    assert '2 -> 1' in text

    status, dot, _ = run(nova_conf, 'fleet', '--dot')
    assert status == 0
    assert dot.startswith('digraph fleet {') and dot.endswith('}\n')
    assert '"0.1" -> "0.0";' in dot


def test_bad_input_exits_2(fleet, nova_conf, tmp_path):
    fleet.host('h1', gpu(1))
    for argv, named in [
            (('--assume', 'nohost=%s' % document_file(tmp_path, 1)),
             'nohost'),
            (('--assume', '=x'), 'expected HOST=DOCUMENT'),
            (('--json', '--dot'), 'not allowed with')]:
        status, _, err = run(nova_conf, 'fleet', *argv)
        assert status == 2, argv
        assert named in err, (argv, err)


def test_two_groups_of_different_mdev_types_are_told_apart(fleet,
                                                           nova_conf):
    # One family, one version: only the GPUs' mdev types differ, and
    # Nova moves a vGPU only into one of its own type.
    fleet.host('t4-a', typed_gpu(2, 'nvidia-222'))
    fleet.host('t4-b', typed_gpu(2, 'nvidia-222'))
    fleet.host('t4-c', typed_gpu(2, 'nvidia-223'))

    family = _family(nova_conf)

    assert family['groups'] == [['t4-a', 't4-b'], ['t4-c']]
    assert family['group_mdev_types'] == [['nvidia-222'], ['nvidia-223']]
    assert family['hosts']['t4-c']['mdev_types'] == ['nvidia-223']
    (stream,) = family['hosts']['t4-c']['emit_traits']
    assert family['stream_mdev_types'][stream] == ['nvidia-223']

    status, text, _ = run(nova_conf, 'fleet')
    assert status == 0
    assert '1: t4-a, t4-b  [mdev type nvidia-222]' in text
    assert '2: t4-c  [mdev type nvidia-223]' in text
    (row,) = [line for line in text.splitlines()
              if line.startswith('  t4-c ')]
    assert 'nvidia-223' in row

    status, dot, _ = run(nova_conf, 'fleet', '--dot')
    assert status == 0
    assert 't4-c\\nemits 1.2\\nmdev type nvidia-223' in dot
