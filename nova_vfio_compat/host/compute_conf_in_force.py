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

"""Which Nova configuration is in force: the one nova-compute loaded.

nova-compute reads its configuration files when it starts (the libvirt
driver reads ``[devices] enabled_mdev_types`` and the ``[mdev_<type>]``
groups once, in ``__init__``); a file changed since is *staged*, not in
force, until nova-compute restarts.  Publishing a staged mdev type would
claim streams the GPUs do not have yet, so the reporter publishes what
the running nova-compute uses:

* files not changed since nova-compute started: they are in force;
* files changed since (staged): the configuration last seen in force
  stays in force; when the reporter never saw one (it started after the
  change), which mdev type Nova uses is unknown and no GPU is published
  until nova-compute restarts;
* no nova-compute process visible (another PID namespace, a container):
  the files are taken as they are, as before, and the log says so.

nova-compute's start is the start time of its process (``/proc/<pid>``,
a command line running ``nova-compute`` or ``-m nova.cmd.compute``);
the files' change is their latest modification time.  One INFO line
each time the answer changes says which configuration is in force.
"""

import dataclasses
import os
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

PROC = '/proc'
COMPUTE_COMMAND = 'nova-compute'
COMPUTE_MODULE = 'nova.cmd.compute'


def _is_compute(argv):
    # python3 /usr/bin/nova-compute ..., /usr/bin/nova-compute ...,
    # python3 -m nova.cmd.compute ...
    for i, arg in enumerate(argv[:2]):
        if os.path.basename(arg) == COMPUTE_COMMAND:
            return True
        if arg == '-m' and argv[i + 1:i + 2] == [COMPUTE_MODULE]:
            return True
    return False


def _boot_time(proc):
    with open(os.path.join(proc, 'stat')) as f:
        for line in f:
            if line.startswith('btime '):
                return int(line.split()[1])
    raise ValueError('%s/stat has no btime' % proc)


def _started(proc, pid, boot, ticks):
    with open(os.path.join(proc, pid, 'stat')) as f:
        stat = f.read()
    # Field 22, starttime in clock ticks since boot; fields counted after
    # the command name, which may hold spaces and parentheses.
    fields = stat[stat.rindex(')') + 2:].split()
    return boot + int(fields[19]) / ticks


def compute_started(proc=PROC):
    """When the nova-compute process of this host started, or None.

    Seconds since the epoch.  With several such processes, the earliest:
    a file is in force only when every one of them loaded it.  None when
    no nova-compute process is visible here.
    """
    found = []
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
        boot = _boot_time(proc)
    except (OSError, ValueError):
        return None
    ticks = os.sysconf('SC_CLK_TCK')
    for pid in pids:
        try:
            with open(os.path.join(proc, pid, 'cmdline'), 'rb') as f:
                argv = f.read().decode('utf-8', 'replace').split('\0')
            if _is_compute(argv):
                found.append(_started(proc, pid, boot, ticks))
        except (OSError, ValueError, IndexError):
            # Gone meanwhile, or not ours to read.
            continue
    return min(found) if found else None


def _when(seconds):
    return time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(seconds))


def _content(nova):
    return nova.mdev_config, nova.state_path


class InForce:
    """Chooses the configuration in force among successive reads.

    :param started: returns when nova-compute started (seconds since the
        epoch) or None; :func:`compute_started` by default.
    """

    def __init__(self, started=compute_started):
        self._started = started
        self._in_force = None
        self._said = None

    def choose(self, on_disk):
        """The :class:`compute_conf.NovaFiles` in force, given the files now.

        A read that failed, or no file given, is returned as it is: there
        is nothing to compare.
        """
        if on_disk.error or not on_disk.given:
            return on_disk
        if self._in_force is not None and \
                _content(on_disk) == _content(self._in_force):
            self._in_force = on_disk
            return on_disk
        started = self._started()
        files = on_disk.describe()
        if started is None:
            self._in_force = on_disk
            self._say('no nova-compute process is visible on this host, so '
                      'whether it loaded %s as it is now cannot be told; '
                      'following the files' % files)
            return on_disk
        if on_disk.modified is None or on_disk.modified <= started:
            self._in_force = on_disk
            self._say('Nova configuration in force: %s, unchanged since '
                      'nova-compute started at %s' % (files, _when(started)))
            return on_disk
        changed = ('%s changed at %s, after nova-compute started at %s: '
                   'the change takes effect when nova-compute restarts'
                   % (files, _when(on_disk.modified), _when(started)))
        if self._in_force is not None:
            self._say('%s; the configuration in force is still the one '
                      'nova-compute loaded (read at %s)' % (
                          changed, _when(self._in_force.modified or 0)))
            return self._in_force
        self._say('%s; the configuration nova-compute loaded was never '
                  'seen here, so no mdev type is published until then'
                  % changed)
        return dataclasses.replace(
            on_disk, mdev_config=None,
            error='%s (the configuration nova-compute runs with is '
                  'unknown)' % changed)

    def _say(self, message):
        if message != self._said:
            self._said = message
            LOG.info('%s', message)
