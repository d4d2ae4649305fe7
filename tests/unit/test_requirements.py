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

"""The lower bounds are the versions "tools/test-constraints.sh oldest"
tests, and the supported releases and Python versions are stated once, as
setup.cfg and the jobs of tools/test-constraints.sh have them."""

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


def _job_pythons():
    """{job: Python version} of tools/test-constraints.sh."""
    with open(os.path.join(REPO, 'tools', 'test-constraints.sh')) as f:
        return dict(re.findall(r'^ +(\w+)\) version=(3\.\d+) ;;$',
                               f.read(), re.M))


def test_the_supported_versions_are_the_ones_setup_cfg_and_tests_have():
    with open(SUPPORTED) as f:
        text = ' '.join(f.read().split())
    setup = configparser.ConfigParser()
    setup.read(os.path.join(REPO, 'setup.cfg'))
    # The Pythons claimed are the ones a job runs on, oldest first.
    jobs = _job_pythons()
    assert set(jobs) == {'oldest', 'newest'}
    classified = re.findall(r'Programming Language :: Python :: (3\.\d+)',
                            setup['metadata']['classifier'])
    assert classified == sorted(set(jobs.values()),
                                key=lambda v: int(v.split('.')[1]))
    assert setup['metadata']['python_requires'] == '>=' + jobs['oldest']
    assert '**Python %s**' % ' or '.join(classified) in text
    for job, release, nova in (('oldest', '2024.1', 29),
                               ('newest', '2026.1', 33)):
        constraints = os.path.join(REPO, 'tools', '%s-constraints.txt' % job)
        with open(constraints) as f:
            assert 'OpenStack %s' % release in f.read()
        # The job's Nova is that release's.
        assert 'nova<%d' % (nova + 1) in _lines(
            'tools', '%s-constraints.txt' % job)
        assert re.search(r'\*\*%s (\([^)]*Nova %d\) )?on Python %s\*\*'
                         % (re.escape(release), nova,
                            re.escape(jobs[job])), text), (release, nova)
        assert 'Nova %d' % nova in text
    assert '**OpenStack 2024.1' in text
