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

import json
import os
import subprocess
import sys

import pytest

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.model import records
from nova_vfio_compat.model import traits
from nova_vfio_compat import samples

SAMPLES = samples.DIR
MLX5_OLD = os.path.join(SAMPLES, 'mlx5-vf-fw28.41.yaml')
MLX5_NEW = os.path.join(SAMPLES, 'mlx5-vf-fw28.43.yaml')
GVT_AGGR = os.path.join(SAMPLES, 'gvt-i915-v1.2-aggr3.yaml')
GVT_TYPE4 = os.path.join(SAMPLES, 'gvt-i915-v1.3-type4.yaml')


def run(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_check_compatible_exit_0(capsys):
    status, out, err = run(capsys, 'check', MLX5_OLD, MLX5_NEW)
    assert status == 0
    assert out.startswith('compatible: ')


def test_check_incompatible_exit_1_with_reasons(capsys):
    status, out, err = run(capsys, 'check', MLX5_NEW, MLX5_OLD, '--json')
    assert status == 1
    result = json.loads(out)
    assert result == {
        'compatible': False,
        'reasons': ['minor version 43 is outside the accepted range 0..41'],
        'create': None, 'nova_can_create': None, 'nova': None}


def test_check_json_says_what_to_create(capsys):
    status, out, err = run(capsys, 'check', GVT_AGGR, GVT_TYPE4, '--json')
    assert status == 0
    result = json.loads(out)
    note = result.pop('nova')
    assert result == {
        'compatible': True, 'reasons': [],
        'create': {'mdev_type': 'i915-GVTg_V5_4',
                   'mdev_attrs': [{'aggregation': '3'}]},
        'nova_can_create': False}
    assert 'Nova could not carry out this creation' in note
    # Another type than the source's (V5_8), and with attributes.
    assert 'only into one of the same type' in note
    assert 'i915-GVTg_V5_8' in note
    assert 'aggregation=3' in note and 'precreated_mdev_attrs' in note


def test_check_says_nova_cannot_create_with_attributes(capsys):
    # The rules still answer yes (exit 0); the note says Nova cannot.
    status, out, err = run(capsys, 'check', GVT_AGGR, GVT_TYPE4)
    assert status == 0
    assert out.startswith('compatible: ')
    assert '  nova: Nova could not carry out this creation' in out


def test_check_no_nova_note_without_attributes(capsys):
    status, out, err = run(capsys, 'check', MLX5_OLD, MLX5_NEW, '--json')
    assert status == 0
    result = json.loads(out)
    assert (result['nova_can_create'], result['nova']) == (True, None)


def test_check_mdevctl_prints_the_device_config(capsys):
    status, out, err = run(capsys, 'check', GVT_AGGR, GVT_TYPE4, '--mdevctl')
    assert status == 0
    assert json.loads(out) == {'mdev_type': 'i915-GVTg_V5_4',
                               'start': 'manual',
                               'attrs': [{'aggregation': '3'}]}


@pytest.mark.parametrize('content, fragment', [
    ('device_api: [', 'is not valid YAML'),
    ('{"device_api": "vfio-pci"}', "'vendor' is a required property"),
    ('', 'must be a mapping'),
])
def test_check_invalid_input_exit_2_names_the_file(capsys, tmp_path,
                                                   content, fragment):
    bad = tmp_path / 'bad.yaml'
    bad.write_text(content)
    status, out, err = run(capsys, 'check', MLX5_OLD, str(bad))
    assert status == 2
    assert out == ''
    assert err.startswith('nova-vfio-compat: error: %s' % bad)
    assert fragment in err
    assert 'Traceback' not in err


def test_check_missing_file_exit_2(capsys, tmp_path):
    status, out, err = run(capsys, 'check', str(tmp_path / 'nope.yaml'),
                           MLX5_OLD)
    assert status == 2
    assert 'nope.yaml: cannot be read' in err


def test_traits_json(capsys):
    status, out, err = run(capsys, 'traits', MLX5_NEW, '--json')
    assert status == 0
    result = json.loads(out)
    doc = records.loads(open(MLX5_NEW).read(), MLX5_NEW)
    # A PCI device's document (it names no mdev type): untyped.
    assert result == {
        'traits': sorted(traits.document_traits(doc)),
        'resource_class': traits.resource_class(doc.emits),
        'mdev_type': None, 'notes': []}
    # 28.43 emits one stream and accepts 28.39..28.43: blocks 39 and
    # 40..43.
    assert len(result['traits']) == 1 + 2


def test_traits_over_the_configured_bound_exit_2(capsys, tmp_path):
    conf = tmp_path / 'nvc.conf'
    conf.write_text('[traits]\nmax_traits_per_provider = 2\n')
    status, out, err = run(capsys, '--config-file', str(conf),
                           'traits', MLX5_NEW)
    assert status == 2
    assert '%s: would carry 3 traits, more than the limit of 2' % MLX5_NEW \
        in err


def test_matrix_over_the_bundled_samples(capsys):
    status, out, err = run(capsys, 'matrix', '--json')
    assert status == 0
    cells = json.loads(out)
    n = len(samples.paths())
    assert n >= 6
    assert len(cells) == n * n
    assert all(c['traits_agree'] for c in cells)
    by_pair = {(os.path.basename(c['source']), os.path.basename(c['dest'])):
               c for c in cells}
    assert by_pair[('mlx5-vf-fw28.41.yaml', 'mlx5-vf-fw28.43.yaml')][
        'compatible']
    assert not by_pair[('mlx5-vf-fw28.43.yaml', 'mlx5-vf-fw28.41.yaml')][
        'compatible']


def test_matrix_human_output(capsys):
    status, out, err = run(capsys, 'matrix', MLX5_OLD, MLX5_NEW)
    assert status == 0
    assert '2 -> 1:' in out
    assert 'minor version 43 is outside the accepted range 0..41' in out
    assert 'The traits agree with the rules for all 4 pairs.' in out


def test_matrix_json_says_what_nova_cannot_carry_out(capsys):
    status, out, err = run(capsys, 'matrix', '--json', GVT_AGGR, GVT_TYPE4)
    assert status == 0, err
    cells = {(os.path.basename(c['source']), os.path.basename(c['dest'])):
             c for c in json.loads(out)}
    cross = cells[('gvt-i915-v1.2-aggr3.yaml', 'gvt-i915-v1.3-type4.yaml')]
    # The rules say yes; Nova moves an mdev only into one of its type.
    assert cross['compatible'] is True
    assert cross['nova_can_create'] is False
    assert 'same type' in cross['nova']
    assert cross['source_mdev_type'] == 'i915-GVTg_V5_8'
    assert cross['dest_mdev_type'] == 'i915-GVTg_V5_4'
    plain = cells[('gvt-i915-v1.3-type4.yaml', 'gvt-i915-v1.3-type4.yaml')]
    assert plain['nova_can_create'] is True and plain['nova'] is None


def test_matrix_text_does_not_say_yes_to_what_nova_cannot_do(capsys):
    status, out, err = run(capsys, 'matrix', GVT_AGGR, GVT_TYPE4)
    assert status == 0, err
    lines = out.splitlines()
    assert '   1  gvt-i915-v1.2-aggr3.yaml (mdev type i915-GVTg_V5_8)' in lines
    row1 = [line for line in lines if line.startswith('   1  ') and
            'yaml' not in line]
    assert row1 == ['   1  (y) (y)']
    assert '   2   -  yes' in lines
    assert '1 -> 2: Nova could not carry out this creation' in out


def test_console_script_never_prints_a_traceback(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_bytes(b'\xff\x00garbage')
    proc = subprocess.run(
        [sys.executable, '-m', 'nova_vfio_compat.cmd.cli', 'check',
         str(bad), str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert 'is not UTF-8' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(['frobnicate'])
    assert e.value.code == 2
