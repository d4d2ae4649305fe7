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

"""``nova-vfio-compat validate PATH...``: capability files offline, by the
rules discovery reads them with."""

import os
import shutil

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.host.discovery import capability_files

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXAMPLES = os.path.join(REPO, 'etc', 'nova-vfio-compat', 'capabilities.d')


def run(capsys, *argv):
    try:
        status = cli.main(['validate'] + list(argv))
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def good_dir(tmp_path):
    """The shipped examples, as an operator installs them."""
    d = tmp_path / 'capabilities.d'
    d.mkdir()
    for name in sorted(os.listdir(EXAMPLES)):
        shutil.copy(os.path.join(EXAMPLES, name),
                    d / name[:-len('.example')])
    return d


def test_the_shipped_examples_are_valid(capsys, good_dir):
    status, out, err = run(capsys, str(good_dir))
    assert status == 0, err
    assert err == ''
    assert 'All 3 files valid.' in out


def _bad_entry(d):
    good = sorted(d.iterdir())[0].read_text()
    # The second entry's document has an unknown key: the file is still
    # readable, that entry is not usable.
    path = d / '60-bad-document.yaml'
    path.write_text(good + '  - match: {driver: x}\n'
                    '    document: {emits: {}, nonsense: 1}\n')
    return path


def test_each_problem_is_one_line_naming_file_and_place(capsys, good_dir):
    bad_doc = _bad_entry(good_dir)
    bad_match = good_dir / '70-bad-match.yaml'
    bad_match.write_text('capabilities:\n  - match: {}\n    document: {}\n')
    broken = good_dir / '80-broken.json'
    broken.write_text('{"capabilities": [')
    status, out, err = run(capsys, str(good_dir))
    assert status == 2
    lines = err.splitlines()
    assert len(lines) == 3, err
    assert str(bad_doc) in lines[0] and 'capabilities[' in lines[0]
    assert str(bad_match) in lines[1] and 'capabilities[0]' in lines[1]
    assert str(broken) in lines[2]
    # The valid files are still listed.
    assert sum(1 for line in out.splitlines() if ' entr' in line) == 3


def test_an_entry_discovery_tells_only_a_device_about(capsys, good_dir):
    # Discovery reports an invalid document only to the devices the entry
    # claims; validate reports it whatever claims it.
    bad = _bad_entry(good_dir)
    catalogue = capability_files.load([str(good_dir)])
    assert not catalogue.errors
    status, _, err = run(capsys, str(bad))
    assert status == 2 and str(bad) in err


def test_names_discovery_skips_and_missing_paths(capsys, tmp_path,
                                                 good_dir):
    text = sorted(good_dir.iterdir())[0].read_text()
    wrong = tmp_path / 'caps.yaml.example'
    wrong.write_text(text)
    status, _, err = run(capsys, str(wrong), str(tmp_path / 'nothing'))
    assert status == 2
    assert 'discovery never reads this file' in err
    assert 'nothing: no such file or directory' in err


def test_the_reporters_own_rules_decide(capsys, good_dir):
    """Whatever discovery refuses in a directory, validate refuses."""
    bad = _bad_entry(good_dir)
    catalogue = capability_files.load([str(good_dir)])
    unusable = {e.path for e in catalogue.entries if e.error}
    assert str(bad) in unusable
    valid, problems = capability_files.check_paths([str(good_dir)])
    assert str(bad) not in {p for p, _ in valid}


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(tmp_path_factory, text):
    d = tmp_path_factory.mktemp('v')
    path = d / 'x.yaml'
    path.write_text(text)
    valid, problems = capability_files.check_paths([str(path)])
    # Exactly one verdict; a problem always names the file.
    assert bool(valid) != bool(problems)
    assert all(str(path) in p for p in problems)
    catalogue = capability_files.load([str(d)])
    # The same verdict as discovery's, for the file as a whole.
    if catalogue.errors:
        assert problems
