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

"""The README's first command: the demo, against its real Placement."""

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.conf import filter as nvc_filter_conf
from nova_vfio_compat.demo import run as demo_run
from nova_vfio_compat.model import traits

# oslo.log's line below WARNING: "DATE TIME PID LEVEL LOGGER [CONTEXT] ...".
_QUIET_LOG_LINE = re.compile(
    r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \d+ (DEBUG|INFO) \S+ \[')


def _command():
    """``nova-vfio-compat`` as the README runs it: the console script."""
    script = os.path.join(os.path.dirname(sys.executable), 'nova-vfio-compat')
    if not os.path.exists(script):
        script = shutil.which('nova-vfio-compat')
    if script is None:
        pytest.skip('the nova-vfio-compat console script is not installed')
    return [script]


@pytest.fixture(scope='module')
def json_run():
    """One run of ``nova-vfio-compat --verbose demo --json``.

    Every test of what the demo does reads this one run (a run is most of
    this module's time): its JSON, its standard error, and when each line
    of standard error came (the progress, as it goes).
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        _command() + ['--verbose', 'demo', '--json'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []

    def read_stderr():
        for line in proc.stderr:
            lines.append((time.monotonic(), line.rstrip('\n')))

    reader = threading.Thread(target=read_stderr)
    reader.start()
    try:
        stdout = proc.stdout.read()
        proc.wait(timeout=300)
    finally:
        proc.kill()
        reader.join()
    ended = time.monotonic()
    assert proc.returncode == 0, '\n'.join(text for _, text in lines)
    return {'started': started, 'ended': ended, 'stderr': lines,
            'out': json.loads(stdout)}


@pytest.fixture(scope='module')
def demo(json_run):
    return json_run['out']


def test_progress_is_shown_as_it_goes(json_run):
    # With --json the progress goes to standard error, beside the log.
    steps = [(t, text[len('... '):]) for t, text in json_run['stderr']
             if text.startswith('... ')]
    texts = [text for _, text in steps]
    assert texts[0].startswith('Starting a real Placement')
    assert any(t.startswith('Placement answers at http') for t in texts)
    assert texts[-1] == 'Stopping Placement...'
    assert len(texts) >= 6
    # Never a silence of more than half the run.
    times = ([json_run['started']] + [t for t, _ in steps] +
             [json_run['ended']])
    total = times[-1] - times[0]
    assert max(b - a for a, b in zip(times, times[1:])) < total / 2


def _chosen(migration):
    return {h for h, r in migration['hosts'].items() if r['passes']}


def _migration(demo, server):
    return next(m for m in demo['migrations'] if m['server'] == server)


def test_every_host_published_and_a_second_sync_writes_nothing(demo):
    for host, sync in demo['sync'].items():
        assert sync['errors'] == [], host
        assert sync['first_writes'] > 0, host
        assert sync['second_writes'] == 0, host


def test_nova_traits_are_kept_beside_the_owned_ones(demo):
    providers = demo['providers']
    assert {'COMPUTE_NODE', 'OWNER_NOVA'} <= set(providers['compute-a'])
    assert 'OWNER_NOVA' in providers['compute-d_pci_0000_82_00_0']
    assert any(traits.is_owned(t)
               for t in providers['compute-d_pci_0000_82_00_0'])


def test_vgpu_goes_where_the_stream_is_accepted(demo):
    mig = _migration(demo, 'vm-vgpu')
    assert _chosen(mig) == {'compute-b', 'compute-d'}
    # compute-d has two GPUs and only the second accepts: the candidates
    # are pruned so that the claim lands on it.
    assert mig['hosts']['compute-d']['candidates'] == 2
    assert mig['hosts']['compute-d']['kept'] == 1
    assert mig['hosts']['compute-d']['claim'] == 'compute-d_pci_0000_82_00_0'
    (reason,) = mig['hosts']['compute-c']['reasons']
    assert reason.startswith('no provider accepts stream %s emitted by '
                             'source provider compute-a_pci_0000_81_00_0'
                             % mig['streams'][0])


def test_aggregated_gvt_is_not_sent_to_a_gpu_of_another_type(demo):
    # By the documents, compute-f's V5_4 created with aggregation=3
    # receives compute-e's aggregated V5_8 stream; Nova migrates an mdev
    # only into one of the same type, so the filter refuses it and the
    # matrix says why.
    mig = _migration(demo, 'vm-gvt')
    assert _chosen(mig) == set()
    (row,) = [r for r in demo['matrix'] if r['host'] == 'compute-e']
    cell = row['targets']['compute-f']
    assert not cell['compatible']
    assert any('mdev_type i915-GVTg_V5_8 is not i915-GVTg_V5_4' in reason
               for reason in cell['reasons']), cell


def test_vf_firmware_range(demo):
    assert _chosen(_migration(demo, 'vm-vf')) == {'compute-a', 'compute-b'}


def test_a_server_without_vfio_devices_goes_anywhere(demo):
    mig = _migration(demo, 'vm-plain')
    assert mig['streams'] == []
    assert _chosen(mig) == set(demo['hosts']) - {'compute-b'}


def _option_default(name):
    (opt,) = [o for o in nvc_filter_conf.ALL_OPTS if o.name == name]
    return opt.default


def test_placement_calls_depend_on_devices_streams_and_candidates(demo):
    # The filter's reads: allocations, the source tree's names, the traits
    # of each source device, which accept traits exist, then who accepts
    # each stream: in each candidate host's tree while that is at most
    # [vfio_compat_filter] max_tree_reads requests, else once in the
    # fleet. Six hosts or six thousand, the same.
    most = _option_default('max_tree_reads')
    for mig in demo['migrations']:
        streams = len(mig['streams'])
        if streams:
            trees = len(mig['hosts']) * streams
            assert mig['placement_calls'] == 2 + 1 + 1 + (
                trees if trees <= most else streams)
        else:
            assert mig['placement_calls'] == 1


def test_matrix_agrees_with_the_migrations(demo):
    for mig in demo['migrations']:
        if not mig['streams']:
            continue
        row = next(r for r in demo['matrix']
                   if (r['host'], r['device']) ==
                   (mig['source'], mig['device']))
        assert {h for h, c in row['targets'].items() if c['compatible']} \
            == _chosen(mig)


def _server(drain, name):
    return next(s for s in drain['servers'] if s['name'] == name)


def test_drain_pre_flight_strands_one_server_until_an_upgrade(demo):
    drain = demo['maintenance']['drain']
    assert drain['host'] == 'compute-a'
    assert [s['name'] for s in drain['servers']] == [
        'vm-net', 'vm-train-1', 'vm-train-2']
    # Both GPU servers can only go to compute-b (compute-c's driver is
    # older, compute-d's accepting GPU has 1 VGPU left, they need 2), and
    # compute-b has room for one.
    placed = [s for s in drain['servers'] if s['plan']]
    stranded = [s for s in drain['servers'] if s['stranded']]
    assert len(stranded) == 1 and stranded[0]['name'].startswith('vm-train')
    assert stranded[0]['stranded']['why'] == 'taken'
    assert {s['name'] for s in placed} >= {'vm-net'}
    assert _server(drain, 'vm-net')['plan']['host'] in {'compute-b',
                                                        'compute-c'}
    # With compute-c's GPU upgraded to compute-b's driver, both fit.
    assumed = demo['maintenance']['drain_assumed']
    assert assumed['assumptions'][0]['host'] == 'compute-c'
    assert assumed['stranded'] == 0 and assumed['placed'] == 3
    assert {_server(assumed, n)['plan']['host']
            for n in ('vm-train-1', 'vm-train-2')} == {'compute-b',
                                                       'compute-c'}
    # None of the drain's reads is per host: the host and its tree (2),
    # allocations and traits of its two device providers (4), which
    # accept traits exist (2: 34 names per stream in trait encoding 2, 36
    # per request), the disabled compute nodes (1), one allocation
    # candidates query per distinct demand (2: the two GPU servers ask
    # for the same) and who accepts each distinct set of streams (2).
    # Which of those have room now needs no request of its own: both
    # demands are one device each, and their candidates, read whole, are
    # those providers (the same plan; test_drain.py
    # test_with_room_is_what_the_listing_says). The device providers'
    # names come with those answers, their hosts' from one listing of
    # the compute nodes (1, Nova's COMPUTE_NODE trait).
    assert drain['placement_calls'] == 2 + 4 + 2 + 1 + 2 + 2 + 1
    # compute-c assumed: its root and tree (2), the traits of its two
    # device providers (2), a candidates query per demand in its tree (2)
    assert assumed['placement_calls'] == drain['placement_calls'] + 6


def _family_of(stream):
    return traits.stream_family(traits.parse(stream)[1])[0]


def test_fleet_map_agrees_with_the_matrix(demo):
    families = {f['family']: f for f in demo['maintenance']['fleet'][
        'families']}
    assert len(families) == 3
    for row in demo['matrix']:
        name = _family_of(row['stream'])
        family = families[name]
        host = row['host']
        same_family_devices = [r for r in demo['matrix'] if r['host'] ==
                               host and _family_of(r['stream']) == name]
        if len(same_family_devices) > 1:
            continue    # "can move to" needs every device of the family
        movable = {h for h, c in row['targets'].items() if c['compatible']}
        assert set(family['can_move_to'][host]) == movable, row


def test_the_rolling_upgrade_keeps_every_server_running(demo):
    upgrade = demo['maintenance']['upgrade']
    # The demo's goal: no downtime the bound does not force.
    assert upgrade['downtime'] == {'planned': 0, 'bound': 0,
                                   'avoidable': 0}
    waves = [[h['host'] for h in w['hosts']] for w in upgrade['waves']]
    # compute-c first: empty, and once upgraded it takes compute-a's
    # 17.4 stream that no other host has room for now.
    assert waves[0] == ['compute-c']
    assert sorted(h for w in waves for h in w) == [
        'compute-a', 'compute-b', 'compute-c', 'compute-d']
    moved = {m['name']: m for w in upgrade['waves'] for m in w['moves']}
    assert set(moved) == {'vm-net', 'vm-train-1', 'vm-train-2',
                          'vm-resident-b', 'vm-resident-d'}
    # every server moves once, to a host already upgraded
    done = set()
    for wave in upgrade['waves']:
        for move in wave['moves']:
            assert move['destination']['host'] in done, move
        done.update(h['host'] for h in wave['hosts'])


def test_placement_is_stopped_afterwards(demo):
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(demo['placement'], timeout=2)


def test_the_command_prints_json_and_human_output(json_run):
    # --verbose: the log lines go to standard error, the JSON stays whole.
    data = json_run['out']
    assert set(data) >= {'hosts', 'providers', 'matrix', 'migrations'}
    logged = '\n'.join(text for _, text in json_run['stderr'])
    assert 'INFO oslo_service.backend' in logged
    assert 'INFO nova_vfio_compat.reporter.sync' in logged
    assert 'VFIOCompatFilter: live migration of instance' in logged
    # The filter's per-host lines are DEBUG: --debug, not --verbose.
    assert ' DEBUG ' not in logged
    assert 'Eventlet is deprecated' not in logged
    assert 'Traceback' not in logged
    # Without --verbose only WARNING and above is logged, and the progress
    # goes to standard output: every line here is progress or a log line
    # below WARNING, so a first run shows the demo's output alone, no
    # library's warning, no log line.
    for _, text in json_run['stderr']:
        assert text.startswith('... ') or _QUIET_LOG_LINE.match(text), text


def test_the_human_output_of_the_same_run(json_run, monkeypatch):
    """``nova-vfio-compat demo`` without ``--json``, on json_run's run.

    The command in-process, its run replayed (the progress as it came,
    then what it found), as a second run of the demo would cost as much
    as the first: what is tested here is what it prints, the process is
    json_run's.
    """
    def replay(progress):
        for _, text in json_run['stderr']:
            if text.startswith('... '):
                progress(text[len('... '):])
        return json_run['out']

    monkeypatch.setattr(demo_run, 'run', replay)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert cli.main(['demo']) == 0
    out = out.getvalue()
    # The progress, then the report, which names no URL (Placement is
    # gone by then).
    assert err.getvalue() == ''
    assert out.startswith('... Starting a real Placement')
    report = out.split('\nnova-vfio-compat demo: ', 1)[1]
    assert 'http://' not in report
    assert out.rstrip().endswith('nothing left running.')
    assert 'compute-d  chosen: claim compute-d_pci_0000_82_00_0' in out
    assert ('compute-e 0000:00:02.0 -> compute-f 0000:00:02.0: accepted '
            'record 1: vfio-pci.mdev_type i915-GVTg_V5_8 is not '
            'i915-GVTg_V5_4') in out
    assert '2 of 3 servers placed, 1 stranded.' in out
    assert 'Every server has a destination (3).' in out
    assert 'Family NVIDIA_10DE_1EB8' in out
