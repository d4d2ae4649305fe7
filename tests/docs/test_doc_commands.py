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

"""Every example command of the docs runs, and prints what the page shows.

The examples are read from the pages (:mod:`tests.docs.doc_commands`) and
run as written, on the demo's fleet in a real Placement on loopback: the
pages' ``/etc/nova/nova.conf`` and
``/etc/nova-vfio-compat/nova-vfio-compat.conf`` are files of the test
that reach that Placement, a bare ``nova-vfio-compat fleet`` finds its
cloud in ``clouds.yaml`` (``OS_CLOUD``), and capability document names
are the bundled samples.  The commands that read this host's devices
through udev run under umockdev in ``tests/udev/test_doc_commands.py``.
"""

import contextlib
import importlib.metadata
import inspect
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.cmd import reporter as reporter_cmd
from nova_vfio_compat.demo import fake_compute
from nova_vfio_compat.demo import fleet as demo_fleet
from nova_vfio_compat.demo import local_placement
from nova_vfio_compat.demo import run as demo_run
from nova_vfio_compat import samples
from tests.docs import doc_commands
from tests.docs import test_cli_reference as cli_reference

NOVA_CONF = '/etc/nova/nova.conf'
OWN_CONF = '/etc/nova-vfio-compat/nova-vfio-compat.conf'
CLOUD = 'docs'
# The reporter examples run on one more host, beside the demo's fleet: a
# GPU of a family no drain or fleet example of the pages looks at.
REPORTER_HOST = 'compute-docs'
REPORTER_GPU = '0000:00:02.0'
REPORTER_SAMPLE = 'gvt-i915-v1.3-type4.yaml'
REPORTER_MDEV_TYPE = 'i915-GVTg_V5_4'
# The troubleshooting page's placeholders, as its example output has them.
CHECK_FILES = {'source-device.yaml': 'mlx5-vf-fw28.43.yaml',
               'host-b-device.yaml': 'mlx5-vf-fw28.41.yaml'}

# The examples whose answer on the demo's fleet is "no" (exit status 1),
# as the pages say; every other example answers "yes" (0).
EXPECTED_STATUS = {
    # maintenance.rst: one of compute-a's GPU servers is stranded ...
    'nova-vfio-compat --config-file /etc/nova/nova.conf drain compute-a': 1,
    # ... troubleshooting.rst: the VF's firmware is older than the source's
    'nova-vfio-compat check source-device.yaml host-b-device.yaml': 1,
}

EXAMPLES = doc_commands.examples()
RUN_HERE = [e for e in EXAMPLES if not doc_commands.is_synopsis(e)
            and not doc_commands.runs_under_udev(e)
            and doc_commands.command_of(e) != 'demo']
SYNOPSES = [e for e in EXAMPLES if doc_commands.is_synopsis(e)]


def _words(example):
    return ' '.join(example.argv)


def _id(example):
    return '%s:%d' % (example.page, example.line)


@pytest.fixture(scope='module')
def cloud(tmp_path_factory):
    """The demo's fleet, published, with its drain servers allocated."""
    work = tmp_path_factory.mktemp('doc-commands')
    for name in os.listdir(os.path.dirname(samples.path('x'))):
        if name.endswith(('.yaml', '.json')):
            shutil.copy(samples.path(name), work / name)
    for alias, sample in CHECK_FILES.items():
        shutil.copy(samples.path(sample), work / alias)
    with local_placement.LocalPlacement() as placement:
        demo = demo_run.Demo(placement.sdk)
        demo.build_fleet()
        demo.report()
        for server, host, address, amount in demo_fleet.DRAIN_SERVERS:
            fake_compute.allocate(
                placement.sdk.placement,
                str(uuid.uuid5(uuid.NAMESPACE_DNS, server)),
                demo._device_allocation(host, address, amount))
        credentials = ('[placement]\nauth_type = admin_token\n'
                       'endpoint = %s\ntoken = %s\n'
                       % (placement.endpoint, local_placement.TOKEN))
        fake_compute.lay_out_host(placement.sdk.placement, REPORTER_HOST,
                                  [REPORTER_GPU], {})
        nova_conf = work / 'nova.conf'
        nova_conf.write_text(credentials + '[devices]\nenabled_mdev_types '
                             '= %s\n' % REPORTER_MDEV_TYPE)
        (work / 'devices.yaml').write_text(yaml.safe_dump({'devices': [{
            'address': REPORTER_GPU, 'kind': 'mdev_type',
            'mdev_type': REPORTER_MDEV_TYPE,
            'document': REPORTER_SAMPLE}]}))
        own_conf = work / 'nova-vfio-compat.conf'
        own_conf.write_text(
            '[reporter]\ndevice_list = %s\nroot_provider_name = %s\n'
            '[nova]\nconfig_files = %s\nconfig_dirs =\n'
            % (work / 'devices.yaml', REPORTER_HOST, nova_conf))
        (work / 'clouds.yaml').write_text(yaml.safe_dump({'clouds': {
            CLOUD: {'auth_type': 'admin_token',
                    'auth': {'endpoint': placement.endpoint,
                             'token': local_placement.TOKEN}}}}))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        env.update(OS_CLIENT_CONFIG_FILE=str(work / 'clouds.yaml'),
                   OS_CLOUD=CLOUD, HOME=str(work))
        yield {'work': work, 'env': env, 'placement': placement,
               'paths': {NOVA_CONF: str(nova_conf),
                         OWN_CONF: str(own_conf)}}


def _argv(example, cloud):
    """The example's words as this test runs them.

    :returns: (argv, the file its standard output is redirected to, or
        None).
    """
    argv, redirect = [], None
    words = list(example.argv)
    while words:
        word = words.pop(0)
        if word == '>':
            redirect = words.pop(0)
            continue
        argv.append(cloud['paths'].get(word, word))
    return argv, redirect


@contextlib.contextmanager
def _environment(cloud):
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(cloud['env'])
    os.chdir(cloud['work'])
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def _run_in_process(main, argv, cloud):
    out, err = io.StringIO(), io.StringIO()
    with _environment(cloud), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as e:
            status = e.code
    return status, out.getvalue(), err.getvalue()


def _console_script(name):
    (entry,) = [e for e in importlib.metadata.entry_points(
        group='console_scripts') if e.name == name]
    return entry


def run(example, cloud):
    """(exit status, stdout, stderr) of the example as written."""
    argv, redirect = _argv(example, cloud)
    program = argv.pop(0)
    if program == 'openstack':
        got = subprocess.run(
            [sys.executable, '-m', 'openstackclient.shell'] + argv,
            env=cloud['env'], cwd=cloud['work'], capture_output=True,
            text=True, timeout=120)
        status, out, err = got.returncode, got.stdout, got.stderr
    elif program == 'nova-vfio-compat':
        status, out, err = _run_in_process(cli.main, argv, cloud)
    else:
        status, out, err = _run_in_process(reporter_cmd.main, argv, cloud)
    if redirect:
        (cloud['work'] / redirect).write_text(out)
    return status, out, err


def _names_as_uuids(lines):
    """The page's lines with the demo's server names as UUIDs.

    The pages show ``NAME (UUID)``; without Nova's API (this test has
    Placement only) the command shows the UUID, the name's UUID5 in the
    demo.
    """
    out = []
    for line in lines:
        for server, *_rest in demo_fleet.DRAIN_SERVERS:
            consumer = str(uuid.uuid5(uuid.NAMESPACE_DNS, server))
            line = line.replace('%s (%s)' % (server, consumer), consumer)
        out.append(line)
    return out


def test_the_pages_have_examples_of_each_kind():
    commands = {doc_commands.command_of(e) for e in EXAMPLES}
    assert {'check', 'drain', 'fleet', 'devices', None} <= commands
    assert any(e.shown for e in EXAMPLES)
    assert SYNOPSES and RUN_HERE


@pytest.mark.parametrize('example', RUN_HERE, ids=_id)
def test_example_runs_and_prints_what_the_page_shows(example, cloud):
    if (example.argv[0] == 'nova-vfio-compat-reporter'
            and '--once' not in example.argv
            and '--dry-run' not in example.argv):
        return _service_starts_syncs_and_stops(example, cloud)
    status, out, err = run(example, cloud)
    command = doc_commands.command_of(example)
    where = '%s (exit %s)\n%s%s' % (_id(example), status, out, err)
    assert status == EXPECTED_STATUS.get(_words(example), 0), where
    if set(CHECK_FILES) <= set(example.argv):
        # the reason the page's "for example" output gives
        assert ('  - minor version 43 is outside the accepted range 0..41'
                in out.splitlines()), where
    assert 'Traceback' not in err, where
    if example.argv[0] == 'nova-vfio-compat-reporter':
        # the reporter never removes a trait of a host it starts on
        assert not [line for line in out.splitlines()
                    if line.startswith('  - ')], where
    if command == 'fleet' and '--dot' in example.argv:
        text = (cloud['work'] / 'fleet.dot').read_text()
        assert text.startswith(('digraph', 'strict digraph')), text
    if command == 'fleet' and '--dot' not in example.argv:
        assert 'Family NVIDIA_10DE_1EB8' in out, where
    if example.shown:
        assert doc_commands.matches(_names_as_uuids(example.shown),
                                    out.splitlines()), where


def _service_starts_syncs_and_stops(example, cloud):
    """The page's service command line syncs and stops on SIGTERM.

    It must exit with status 0 within seconds of the signal.
    """
    argv, _redirect = _argv(example, cloud)
    entry = _console_script(argv[0])
    code = ('import sys; from %s import %s as main; sys.exit(main())'
            % (entry.module, entry.attr))
    child = subprocess.Popen(
        [sys.executable, '-c', code] + argv[1:],
        env=cloud['env'], cwd=cloud['work'], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        seen = []
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            seen.append(line)
            if 'Reporting the devices of %s' % REPORTER_HOST in line:
                break
        assert any('Reporting the devices of' in s for s in seen), seen
        time.sleep(2)
        child.send_signal(signal.SIGTERM)
        status = child.wait(timeout=30)
        rest = child.stdout.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert status == 0, ''.join(seen) + rest
    assert 'Traceback' not in rest and 'ERROR' not in ''.join(seen) + rest


def _options(parser):
    return {o for action in parser._actions for o in action.option_strings}


@pytest.mark.parametrize('example', SYNOPSES, ids=_id)
def test_synopsis_names_a_command_and_options_it_has(example, capsys):
    """A synopsis line names a real command and only options it has.

    Its parser's, or the program's common ones from its real ``--help``.
    """
    named = {w.strip('[]').split('=')[0] for w in example.argv
             if w.strip('[').startswith('--')}
    command = doc_commands.command_of(example)
    if example.argv[0] == 'nova-vfio-compat-reporter':
        known = cli_reference.help_options(reporter_cmd.main, capsys)
    elif example.argv[0] == 'openstack':
        commands = cli_reference.osc_commands()
        assert command in commands, (_id(example), sorted(commands))
        known = _options(commands[command]) | {'--os-cloud'}
    else:
        commands = cli.command_parsers()
        assert command in commands, (_id(example), sorted(commands))
        known = (cli_reference.help_options(cli.main, capsys)
                 | _options(commands[command]))
    assert named <= known, (_id(example), named - known)


def test_udev_examples_are_run_there():
    """What this module leaves to the udev process, that one runs."""
    from tests.udev import test_doc_commands as udev_side
    assert udev_side.RUN_THERE == [
        e for e in EXAMPLES if not doc_commands.is_synopsis(e)
        and doc_commands.runs_under_udev(e)]


def test_demo_example_is_the_demo_test():
    """``nova-vfio-compat demo`` is run as written by test_demo.py.

    In tests/functional/test_demo.py: the console script runs the demo
    once (``--verbose demo --json``), and the command as written prints
    that run's report in-process.
    """
    from tests.functional import test_demo
    assert [e for e in EXAMPLES if not doc_commands.is_synopsis(e)
            and doc_commands.command_of(e) == 'demo']
    source = inspect.getsource(test_demo)
    assert "_command() + ['--verbose', 'demo', '--json']" in source
    assert "cli.main(['demo'])" in source


def test_fleet_map_of_the_page_is_the_demo_fleets(cloud):
    """maintenance.rst's fleet map is what ``fleet`` prints.

    The page calls it "the demo's fleet, for example".
    """
    page = os.path.join(doc_commands.REPO, 'doc', 'source', 'admin',
                        'maintenance.rst')
    blocks = [[t for _n, t in body if t.strip()]
              for _first, body in doc_commands.literal_blocks(page)]
    (block,) = [b for b in blocks if b[0].startswith('Family ')]
    fleet, = [e for e in RUN_HERE if e.page.endswith('maintenance.rst')
              and doc_commands.command_of(e) == 'fleet'
              and '--dot' not in e.argv]
    status, out, err = run(fleet, cloud)
    assert status == 0, err
    assert doc_commands.matches(['...'] + block + ['...'],
                                out.splitlines()), out


def test_checklist_dry_run_shows_nothing_once_synced(cloud):
    """operations.rst: a synced reporter's dry run shows no change.

    The page: ``--once --dry-run`` "must exit 0 and, once the service has
    synced, show no trait to add or remove".
    """
    dry_run, = [e for e in RUN_HERE if e.page.endswith('operations.rst')
                and e.argv[0] == 'nova-vfio-compat-reporter']
    once, = [e for e in RUN_HERE if '--once' in e.argv
             and '--dry-run' not in e.argv]
    assert run(once, cloud)[0] == 0
    status, out, err = run(dry_run, cloud)
    assert status == 0, err
    assert not [line for line in out.splitlines()
                if line.startswith('  ')], out
