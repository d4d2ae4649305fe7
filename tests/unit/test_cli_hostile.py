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

"""The console scripts facing special files, closed pipes, bugs and bad
configuration: exit 2 naming the path or option, 3 for a bug, never a
traceback (unless asked for), never a hang."""

import os
import subprocess
import sys
import threading

import pytest

from nova_vfio_compat.cmd import cli
from nova_vfio_compat.cmd import reporter as reporter_cmd
from nova_vfio_compat.model import rules
from nova_vfio_compat import samples

MLX5 = os.path.join(samples.DIR, 'mlx5-vf-fw28.43.yaml')
MLX5_OLD = os.path.join(samples.DIR, 'mlx5-vf-fw28.41.yaml')


def _console(*argv, stdout=subprocess.PIPE, timeout=60):
    return subprocess.run(
        [sys.executable, '-m', 'nova_vfio_compat.cmd.cli'] + list(argv),
        stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout)


def _special_files(tmp_path):
    fifo = tmp_path / 'fifo.yaml'
    os.mkfifo(fifo)
    loop = tmp_path / 'loop.yaml'
    os.symlink(tmp_path / 'loop2.yaml', loop)
    os.symlink(loop, tmp_path / 'loop2.yaml')
    directory = tmp_path / 'dir.yaml'
    directory.mkdir()
    return [(str(fifo), 'is a FIFO (named pipe), not a regular file'),
            (os.devnull, 'is a character device, not a regular file'),
            (str(directory), 'is a directory, not a regular file'),
            (str(loop), 'cannot be read: a loop of symbolic links')]


def _main_unblocked(argv, fifo, wait=10, main=cli.main):
    """``cli.main(argv)`` in this process, which must not block on ``fifo``.

    In process, not a subprocess per case: what is tested is how the
    command opens the file. A FIFO with no writer would block a plain
    open() forever; after ``wait`` seconds a writer opens it (which ends
    such an open) and the test fails.
    """
    done = threading.Event()
    blocked = []

    def unblock():
        if done.wait(wait):
            return
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return      # ENXIO: nobody is waiting to read it
        blocked.append(True)
        os.close(fd)

    helper = threading.Thread(target=unblock)
    helper.start()
    try:
        status = main(argv)
    finally:
        done.set()
        helper.join()
    assert not blocked, '%s blocked opening %s' % (argv, fifo)
    return status


@pytest.mark.parametrize('command', ['check', 'traits', 'matrix'])
def test_special_files_are_refused_without_blocking(tmp_path, capsys,
                                                    command):
    fifo = str(tmp_path / 'fifo.yaml')
    for path, message in _special_files(tmp_path):
        argv = {'check': ['check', MLX5, path], 'traits': ['traits', path],
                'matrix': ['matrix', MLX5, path]}[command]
        status = _main_unblocked(argv, fifo)
        out, err = capsys.readouterr()
        assert status == 2, err
        assert err.startswith('nova-vfio-compat: error: %s: %s'
                              % (path, message)), err
        assert len(err.splitlines()) == 1
        assert out == ''


def test_a_closed_stdout_ends_the_command_quietly(tmp_path):
    # The reader is gone before anything is written: every write fails
    # with EPIPE.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        for argv in (['traits', MLX5], ['check', MLX5, MLX5_OLD, '--json'],
                     ['matrix']):
            proc = _console(*argv, stdout=write_end)
            assert proc.stderr == '', proc.stderr
            # The status of the answer, not of the pipe.
            assert proc.returncode == (1 if argv[0] == 'check' else 0)
    finally:
        os.close(write_end)


def test_traits_into_head_prints_one_line_and_no_traceback():
    proc = subprocess.run(
        '"%s" -m nova_vfio_compat.cmd.cli traits %s | head -1'
        % (sys.executable, MLX5), shell=True, capture_output=True,
        text=True, timeout=60)
    assert proc.stdout.startswith('resource class: CUSTOM_VFC_')
    assert len(proc.stdout.splitlines()) == 1
    assert proc.stderr == ''


def _bug(*args, **kwargs):
    raise KeyError('a bug')


def test_an_internal_error_is_exit_3_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(rules, 'check', _bug)
    status = cli.main(['check', MLX5, MLX5_OLD])
    out, err = capsys.readouterr()
    assert status == cli.EXIT_INTERNAL == 3
    assert err == ("nova-vfio-compat: internal error: KeyError: 'a bug' "
                   "(run with --debug for the traceback)\n")


def test_debug_shows_the_traceback_of_an_internal_error(monkeypatch,
                                                        capsys):
    monkeypatch.setattr(rules, 'check', _bug)
    status = cli.main(['--debug', 'check', MLX5, MLX5_OLD])
    out, err = capsys.readouterr()
    assert status == 3
    assert 'Traceback (most recent call last)' in err
    assert err.endswith("nova-vfio-compat: internal error: KeyError: "
                        "'a bug'\n")


def test_the_console_script_exits_3_for_an_internal_error(tmp_path):
    # A real process, with a bug planted in the rules.
    proc = subprocess.run(
        [sys.executable, '-c',
         'import sys; from nova_vfio_compat.model import rules; '
         'rules.check = lambda *a: 1 / 0; '
         'from nova_vfio_compat.cmd import cli; '
         'sys.exit(cli.main(sys.argv[1:]))', 'check', MLX5, MLX5_OLD],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr == ('nova-vfio-compat: internal error: '
                           'ZeroDivisionError: division by zero (run with '
                           '--debug for the traceback)\n')


@pytest.mark.parametrize('section, option, value, fragment', [
    ('discovery', 'compat_attribute', '../../../etc/shadow', 'regex'),
    ('discovery', 'compat_attribute', 'a/b', 'regex'),
    ('discovery', 'max_document_size', 'lots', 'lots'),
    ('discovery', 'max_document_size', '1', 'greater than or equal to 256'),
    ('traits', 'max_traits_per_provider', '-3', 'greater than or equal'),
    ('reporter', 'resync_interval', 'soon', 'soon'),
])
def test_a_bad_configured_value_is_exit_2_naming_the_option(
        tmp_path, capsys, section, option, value, fragment):
    conf = tmp_path / 'nvc.conf'
    conf.write_text('[%s]\n%s = %s\n' % (section, option, value))
    for main, prog, argv in (
            (cli.main, 'nova-vfio-compat', ['check', MLX5, MLX5_OLD]),
            (cli.main, 'nova-vfio-compat', ['traits', MLX5]),
            (reporter_cmd.main, 'nova-vfio-compat-reporter', ['--once'])):
        status = main(['--config-file', str(conf)] + argv)
        out, err = capsys.readouterr()
        assert status == 2, err
        assert err.startswith('%s: error: [%s] %s: ' % (prog, section,
                                                        option)), err
        assert fragment in err
        assert len(err.splitlines()) == 1
        assert out == ''


@pytest.mark.parametrize('main', [cli.main, reporter_cmd.main],
                         ids=['nova-vfio-compat', 'reporter'])
def test_a_special_configuration_file_is_refused_without_blocking(
        tmp_path, capsys, main):
    # oslo.config opens its files with a plain open(): checked first.
    fifo = str(tmp_path / 'fifo.yaml')
    for path, message in _special_files(tmp_path):
        argv = ['--config-file', path] + (
            ['matrix'] if main is cli.main else ['--once'])
        status = _main_unblocked(argv, fifo, main=main)
        out, err = capsys.readouterr()
        assert status == 2, err
        assert '%s: %s' % (path, message) in err, err
        assert len(err.splitlines()) == 1
