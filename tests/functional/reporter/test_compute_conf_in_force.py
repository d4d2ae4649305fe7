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

"""The configuration in force is the one nova-compute loaded.

nova-compute's start is read from a real process (``/proc``); the
decisions are made on real files whose modification times are set.
"""

import logging
import os
import subprocess
import sys
import time

import pytest

from nova_vfio_compat.host import compute_conf
from nova_vfio_compat.host import compute_conf_in_force


@pytest.fixture
def compute_process(tmp_path):
    """A process whose command line is ``python .../nova-compute``."""
    script = tmp_path / 'nova-compute'
    script.write_text('import time\ntime.sleep(60)\n')
    before = time.time()
    process = subprocess.Popen([sys.executable, str(script),
                                '--config-file', '/etc/nova/nova.conf'])
    after = time.time()
    yield before, after
    process.kill()
    process.wait()


def test_the_start_of_a_running_nova_compute_is_read(compute_process):
    before, after = compute_process
    deadline = time.monotonic() + 10
    started = compute_conf_in_force.compute_started()
    while started is None and time.monotonic() < deadline:
        # On a loaded machine the child may not be readable at once.
        time.sleep(0.1)
        started = compute_conf_in_force.compute_started()
    # /proc/stat's btime is in whole seconds.
    assert started is not None
    assert before - 1.5 <= started <= after + 1.5


def test_no_nova_compute_process_is_none(tmp_path):
    # An empty /proc (another PID namespace shows none of Nova's).
    (tmp_path / 'stat').write_text('cpu 1 2 3\nbtime 1700000000\n')
    assert compute_conf_in_force.compute_started(str(tmp_path)) is None


def _conf(path, mdev_type, modified):
    path.write_text('[devices]\nenabled_mdev_types = %s\n' % mdev_type)
    os.utime(path, (modified, modified))
    return compute_conf.load([str(path)])


def _types(nova):
    return nova.mdev_config and nova.mdev_config.enabled_types


def test_a_staged_change_takes_effect_at_the_restart(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / 'nova.conf'
    start = {'at': 1000.0}
    in_force = compute_conf_in_force.InForce(lambda: start['at'])

    # Written before nova-compute started: in force.
    assert _types(in_force.choose(_conf(path, 'nvidia-11', 900))) == (
        'nvidia-11',)
    # Changed after it started: staged, nvidia-11 still in force.
    staged = _conf(path, 'nvidia-12', 1100)
    assert _types(in_force.choose(staged)) == ('nvidia-11',)
    assert _types(in_force.choose(staged)) == ('nvidia-11',)
    # nova-compute restarted: the change is in force.
    start['at'] = 1200.0
    assert _types(in_force.choose(staged)) == ('nvidia-12',)

    messages = [r.getMessage() for r in caplog.records
                if r.name == compute_conf_in_force.__name__]
    assert [r.levelname for r in caplog.records
            if r.name == compute_conf_in_force.__name__] == ['INFO'] * 3
    assert 'in force: %s, unchanged since' % path in messages[0]
    assert 'takes effect when nova-compute restarts' in messages[1]
    assert 'still the one nova-compute loaded' in messages[1]
    assert 'in force: %s, unchanged since' % path in messages[2]


def test_a_change_staged_before_the_reporter_started_is_unknown(tmp_path):
    path = tmp_path / 'nova.conf'
    in_force = compute_conf_in_force.InForce(lambda: 1000.0)

    chosen = in_force.choose(_conf(path, 'nvidia-12', 1100))

    # Nothing is published for the GPUs rather than the staged type.
    assert chosen.mdev_config is None
    assert 'after nova-compute started' in chosen.error
    assert str(path) in chosen.error


def test_reverting_a_staged_change_needs_no_restart(tmp_path):
    path = tmp_path / 'nova.conf'
    in_force = compute_conf_in_force.InForce(lambda: 1000.0)
    in_force.choose(_conf(path, 'nvidia-11', 900))
    in_force.choose(_conf(path, 'nvidia-12', 1100))

    chosen = in_force.choose(_conf(path, 'nvidia-11', 1200))

    assert _types(chosen) == ('nvidia-11',) and chosen.error is None


def test_without_a_visible_nova_compute_the_files_are_followed(tmp_path):
    path = tmp_path / 'nova.conf'
    in_force = compute_conf_in_force.InForce(lambda: None)
    in_force.choose(_conf(path, 'nvidia-11', 900))
    assert _types(in_force.choose(_conf(path, 'nvidia-12', 1100))) == (
        'nvidia-12',)
