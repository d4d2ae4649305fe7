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

"""The lower bounds are the versions tools/test-oldest.sh tests, and the
supported releases and Python versions are stated once, as setup.cfg and
the constraints have them."""

import configparser
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SUPPORTED = os.path.join(REPO, 'doc', 'source', 'install', 'supported.inc')


def _lines(*path):
    with open(os.path.join(REPO, *path)) as f:
        return [line.split('#')[0].strip() for line in f
                if line.split('#')[0].strip()]


def _name(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def floors():
    """{package: lower bound} of requirements.txt."""
    out = {}
    for line in _lines('requirements.txt'):
        m = re.fullmatch(r'([A-Za-z0-9_.-]+)>=([0-9.]+)', line)
        assert m, 'requirements.txt: %r is not "name>=version"' % line
        out[_name(m.group(1))] = m.group(2)
    return out


def pins():
    """{package: version} pinned by tools/oldest-constraints.txt."""
    out = {}
    for line in _lines('tools', 'oldest-constraints.txt'):
        m = re.fullmatch(r'([A-Za-z0-9_.-]+)===([0-9.]+)', line)
        if m:
            out[_name(m.group(1))] = m.group(2)
    return out


def test_every_lower_bound_is_the_version_the_oldest_job_installs():
    runtime = floors()
    pinned = pins()
    assert {p: pinned.get(p) for p in runtime} == runtime


def test_the_supported_versions_are_the_ones_setup_cfg_and_tests_have():
    with open(SUPPORTED) as f:
        text = ' '.join(f.read().split())
    setup = configparser.ConfigParser()
    setup.read(os.path.join(REPO, 'setup.cfg'))
    python = setup['metadata']['python_requires']
    assert re.fullmatch(r'>=3\.\d+', python)
    assert '**Python %s or later**' % python[2:] in text
    with open(os.path.join(REPO, 'tools', 'oldest-constraints.txt')) as f:
        release = re.search(r'OpenStack (\d{4}\.\d)', f.read()).group(1)
    assert '**OpenStack %s' % release in text
    # The Nova the oldest job installs is that release's.
    nova = [line for line in _lines('tools', 'oldest-constraints.txt')
            if line.startswith('nova')]
    assert nova == ['nova<30'] and 'Nova 29' in text
