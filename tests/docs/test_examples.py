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

"""The YAML examples of the capability document reference are valid input
for the code that reads each kind, and mean what the page says."""

import glob
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import yaml

from nova_vfio_compat.host import device_list
from nova_vfio_compat.host.discovery import capability_files
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import records

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PAGE = os.path.join(REPO, 'doc', 'source', 'reference',
                    'capability-documents.rst')


def yaml_blocks():
    with open(PAGE) as f:
        text = f.read()
    blocks = re.findall(r'\.\. code-block:: yaml\n\n((?:   .*\n|\n)+)', text)
    return [textwrap.dedent(b) for b in blocks]


def blocks_of(key):
    return [b for b in yaml_blocks() if key in yaml.safe_load(b)]


def test_the_page_has_each_kind_of_example():
    assert len(yaml_blocks()) >= 4
    assert blocks_of('capabilities') and blocks_of('devices')
    assert blocks_of('self') and blocks_of('device_api')


@pytest.mark.parametrize('key', ['device_api', 'self'])
def test_record_and_document_examples_are_valid(key):
    for block in blocks_of(key):
        doc = records.loads(block, 'example')
        assert doc.accepts


def _t4(driver_version):
    return nvc_devices.Device(
        kind=nvc_devices.KIND_MDEV_TYPE, address='0000:3b:00.0',
        sys_path='/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0',
        driver='nvidia', driver_version=driver_version,
        pci_ids=(0x10de, 0x1eb8, 0x10de, 0x12a2), mdev_type='nvidia-222')


def test_capability_file_example_is_valid_and_matches_as_described():
    (block,) = blocks_of('capabilities')
    (entry,) = capability_files.parse_file(yaml.safe_load(block), 'example')
    assert entry.error is None and entry.document is not None
    # driver_version ">=550.54, <551"
    assert entry.matches(_t4('550.54.14'))
    assert not entry.matches(_t4('551.0'))
    assert not entry.matches(_t4('535.129.03'))
    assert not entry.matches(_t4(None))


def test_device_list_example_is_valid(tmp_path):
    (block,) = blocks_of('devices')
    path = tmp_path / 'devices.yaml'
    path.write_text(block)
    (tmp_path / 't4-grid17.yaml').write_text(
        'device_api: vfio-pci\nvendor: nvidia\n'
        'version: {major: 17, minor: 4}\n'
        'vfio-pci: {vendor: 0x10de, device: 0x1eb8, '
        'subsystem_vendor: 0x10de, subsystem_device: 0x12a2}\n'
        'mdev_type: nvidia-222\n')

    mdev, vf = device_list.load(str(path))

    assert (mdev.kind, mdev.mdev_type) == (nvc_devices.KIND_MDEV_TYPE,
                                           'nvidia-222')
    assert mdev.document is not None and not mdev.errors
    # Relative to the list's file; the absolute one does not exist here,
    # which is reported on that device alone.
    assert (vf.kind, vf.physfn) == (nvc_devices.KIND_PCI, '0000:81:00.0')
    assert vf.document is None and vf.errors


# Every example command line of the documentation names a command and
# options the console scripts have: "nova-vfio-compat[-reporter] ..." in a
# literal block or an inline literal.
DOCS = [os.path.join(REPO, 'README.rst'),
        os.path.join(REPO, 'devstack', 'README.rst')] + sorted(
    glob.glob(os.path.join(REPO, 'doc', 'source', '**', '*.rst'),
              recursive=True))
PROGRAMS = {'nova-vfio-compat': 'nova_vfio_compat.cmd.cli',
            'nova-vfio-compat-reporter': 'nova_vfio_compat.cmd.reporter'}
COMMAND = re.compile(r'(?:^|[\s$])(nova-vfio-compat(?:-reporter)?)'
                     r'((?:[ \t]+[^\s`|;&>]+)*)')


def literal_texts(text):
    """The inline literals and the literal blocks of a page."""
    out = re.findall(r'``(.+?)``', text.replace('\n', ' '))
    lines = text.split('\n')
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.rstrip().endswith('::') or re.search(
                r'code-block:: (yaml|ini|json)', line):
            continue
        # The block: the lines indented deeper than the "::" line.
        indent = len(line) - len(line.lstrip())
        block = []
        while i < len(lines) and (
                not lines[i].strip() or
                len(lines[i]) - len(lines[i].lstrip()) > indent):
            block.append(lines[i])
            i += 1
        out.append('\n'.join(block).replace('\\\n', ' '))
    return out


def example_commands():
    out = []
    for path in DOCS:
        with open(path) as f:
            text = f.read()
        for literal in literal_texts(text):
            for line in literal.split('\n'):
                for m in COMMAND.finditer(line):
                    out.append((os.path.relpath(path, REPO), m.group(1),
                                m.group(2).split()))
    return out


# The --help of many command lines, in one process: (status, text) each.
HELP = """\
import contextlib, importlib, io, json, sys
out = []
for module, words in json.loads(sys.argv[1]):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            code = importlib.import_module(module).main(words + ['--help'])
        except SystemExit as e:
            code = e.code
    out.append([code or 0, buf.getvalue()])
print(json.dumps(out))
"""


def helps_of(command_lines):
    """{(program, words): (status, help text)} for each of them."""
    command_lines = sorted(set(command_lines))
    done = subprocess.run(
        [sys.executable, '-c', HELP, json.dumps(
            [[PROGRAMS[p], list(w)] for p, w in command_lines])],
        capture_output=True, text=True, timeout=300, check=True)
    return dict(zip(command_lines, map(tuple, json.loads(done.stdout))))


def _subcommand(words, top_help):
    """The first word that is neither an option nor an option's value."""
    takes_value = set(re.findall(r'(--?[\w-]+) [A-Z_]+', top_help))
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word.startswith('-'):
            skip = word in takes_value
        elif re.fullmatch(r'[a-z][a-z-]*', word):
            return [word]
        else:
            return []
    return []


def test_every_example_command_has_the_command_and_options_it_uses():
    examples = example_commands()
    assert len(examples) > 20
    helps = helps_of((program, ()) for program in PROGRAMS)
    subs = [_subcommand(words, helps['nova-vfio-compat', ()][1])
            if program == 'nova-vfio-compat' else []
            for _page, program, words in examples]
    helps.update(helps_of((program, tuple(sub)) for (_page, program, _w), sub
                          in zip(examples, subs)))
    wrong = []
    for (page, program, words), sub in zip(examples, subs):
        status, text = helps[program, tuple(sub)]
        if status != 0:
            wrong.append('%s: %s %s: no such command' % (
                page, program, ' '.join(sub)))
            continue
        text += helps[program, ()][1]
        for word in words:
            option = word.split('=', 1)[0]
            if re.fullmatch(r'--?[a-z][a-z0-9-]*', option) and \
                    not re.search(r'(^|[\s\[,])%s([\s\],=]|$)'
                                  % re.escape(option), text, re.M):
                wrong.append('%s: %s %s: no option %s' % (
                    page, program, ' '.join(sub), option))
    assert not wrong, '\n'.join(sorted(set(wrong)))


def test_every_trait_prefix_in_the_documentation_is_one_the_code_has():
    from nova_vfio_compat.model import traits as nvc_traits
    known = {nvc_traits.EMIT_PREFIX, nvc_traits.ACCEPT_PREFIX,
             nvc_traits.V1_ACCEPT_PREFIX, nvc_traits.TYPE_PREFIX}
    wrong = []
    for path in DOCS:
        with open(path) as f:
            for prefix in re.findall(r'CUSTOM_VFC_\d+_[A-Z]_', f.read()):
                if prefix not in known:
                    wrong.append('%s: %s' % (os.path.relpath(path, REPO),
                                             prefix))
    assert not wrong, '\n'.join(sorted(set(wrong)))
