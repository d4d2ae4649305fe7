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

"""The documentation builds with warnings as errors (as tox -e docs does),
including the configuration reference generated from the option groups.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

from nova_vfio_compat.conf import opts

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.mark.skipif(
    importlib.util.find_spec('openstackdocstheme') is None,
    reason='the documentation tools (doc/requirements.txt) are not '
           'installed')
def test_docs_build_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-q',
         '-b', 'html', '-d', str(tmp_path / 'doctrees'),
         'doc/source', str(tmp_path / 'html')],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    html = (tmp_path / 'html' / 'configuration' / 'index.html').read_text()
    # The generated reference has every option of the project.
    for group, group_opts in opts.list_opts():
        for opt in group_opts:
            anchor = 'id="%s.%s"' % (group.name, opt.dest)
            assert anchor in html, anchor
    sample = (tmp_path / 'html' / 'configuration' / 'sample.html')
    assert 'max_traits_per_provider' in sample.read_text()
