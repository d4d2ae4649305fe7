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

import glob
import os

import pytest

from nova_vfio_compat.host.discovery import capability_files
from nova_vfio_compat.model import devices as nvc_devices
from nova_vfio_compat.model import records

EXAMPLES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'etc',
                        'nova-vfio-compat', 'capabilities.d')

DOC = '''
      device_api: vfio-pci
      vendor: %(vendor)s
      version: {major: 1, minor: %(minor)d}
      vfio-pci: {vendor: 0x10de, device: 0x1eb8, subsystem_vendor: 0x10de,
                 subsystem_device: 0x12a2}
'''


def entry(match, vendor='nvidia', minor=0, mdev_type=None):
    text = '  - match: %s\n    document:%s' % (
        match, DOC % {'vendor': vendor, 'minor': minor})
    if mdev_type:
        text += '      mdev_type: %s\n' % mdev_type
    return text


def write(directory, name, *entries):
    path = directory / name
    path.write_text('capabilities:\n' + ''.join(entries))
    return str(path)


def target(kind='pci', driver='nvidia', version='550.54.14',
           ids=(0x10de, 0x1eb8, 0x10de, 0x12a2), mdev_type=None):
    return nvc_devices.Device(kind=kind, address='0000:3b:00.0',
                              sys_path='/x', driver=driver,
                              driver_version=version, pci_ids=ids,
                              mdev_type=mdev_type)


def claim(tmp_path, t):
    return capability_files.load([str(tmp_path)]).claim(t)


@pytest.mark.parametrize('match,t,claimed', [
    ('{driver: nvidia}', target(), True),
    ('{driver: [i915, nvidia]}', target(), True),
    ('{driver: i915}', target(), False),
    ('{driver: nvidia, driver_version: ">=550, <551"}', target(), True),
    ('{driver: nvidia, driver_version: ">=551"}', target(), False),
    ('{driver: nvidia, driver_version: ">=550"}', target(version=None),
     False),
    ('{pci_ids: [{vendor: 0x10de, device: 0x1eb8}]}', target(), True),
    ('{pci_ids: [{vendor: 0x10de, device: 0x1eb9}, '
     '{vendor: "0x10DE", device: "0x1eb8", subsystem_device: 0x12a2}]}',
     target(), True),
    ('{pci_ids: [{vendor: 0x10de, device: 0x1eb8, '
     'subsystem_device: 0x12a3}]}', target(), False),
    ('{pci_ids: [{vendor: 0x10de, device: 0x1eb8}]}', target(ids=()), False),
    ('{mdev_type: nvidia-222}', target('mdev_type', mdev_type='nvidia-222'),
     True),
    ('{mdev_type: [nvidia-230]}',
     target('mdev_type', mdev_type='nvidia-222'), False),
    # An entry for mdev types never claims a PCI function.
    ('{mdev_type: nvidia-222}', target(), False),
])
def test_match(tmp_path, match, t, claimed):
    write(tmp_path, 'a.yaml', entry(match))
    assert (claim(tmp_path, t).entry is not None) is claimed


def test_a_document_naming_an_mdev_type_applies_to_that_type(tmp_path):
    write(tmp_path, 'a.yaml', entry('{driver: nvidia}',
                                    mdev_type='nvidia-230'))
    t222 = target('mdev_type', mdev_type='nvidia-222')
    t230 = target('mdev_type', mdev_type='nvidia-230')
    assert claim(tmp_path, t222).entry is None
    assert claim(tmp_path, t230).entry is not None


def test_the_file_name_sorting_last_wins_and_both_are_named(tmp_path):
    first = tmp_path / 'one'
    second = tmp_path / 'two'
    first.mkdir()
    second.mkdir()
    a = write(first, '90-local.yaml', entry('{driver: nvidia}', minor=9))
    b = write(first, '50-vendor.yaml', entry('{driver: nvidia}', minor=5))
    c = write(second, '50-vendor.yaml', entry('{driver: nvidia}', minor=6))
    for dirs in ([str(first), str(second)], [str(second), str(first)]):
        got = capability_files.load(dirs).claim(target())
        assert got.entry.path == a
        assert got.entry.document.emits.minor == 9
        assert len(got.warnings) == 2
        for loser in (b, c):
            assert any(loser in w and a in w for w in got.warnings)
    # For equal names the later directory wins.
    got = capability_files.load([str(first), str(second)]).claim(
        target(driver='i915'))
    assert got.entry is None
    os.remove(a)
    got = capability_files.load([str(first), str(second)]).claim(target())
    assert got.entry.path == c
    got = capability_files.load([str(second), str(first)]).claim(target())
    assert got.entry.path == b


def test_within_a_file_the_later_entry_wins(tmp_path):
    path = write(tmp_path, 'a.yaml', entry('{driver: nvidia}', minor=1),
                 entry('{pci_ids: [{vendor: 0x10de, device: 0x1eb8}]}',
                       minor=2))
    got = claim(tmp_path, target())
    assert got.entry.index == 1
    (warning,) = got.warnings
    assert '%s: capabilities[0] and %s: capabilities[1]' % (
        path, path) in warning


def test_an_invalid_document_spoils_only_its_entry(tmp_path):
    path = write(tmp_path, 'a.yaml',
                 entry('{driver: nvidia}', vendor='"bad\\x01"'),
                 entry('{driver: i915}'))
    catalogue = capability_files.load([str(tmp_path)])
    assert catalogue.errors == ()
    got = catalogue.claim(target())
    assert got.entry is None
    (error,) = got.errors
    assert error.startswith('%s: capabilities[0].document: at vendor: '
                            % path)
    assert catalogue.claim(target(driver='i915')).entry.index == 1


@pytest.mark.parametrize('text,message', [
    ('{"capabilities": [', 'is not valid JSON'),
    ('capabilities: [', 'is not valid YAML'),
    ('- 1', 'is not of type \'object\''),
    ('capabilities: []', 'at capabilities: [] should be non-empty'),
    ('capabilities: [{match: {driver: nvidia}}]',
     "at capabilities[0]: 'document' is a required property"),
    ('capabilities: [{match: {driver_version: "1"}, document: {}}]',
     'at capabilities[0].match: '),
    ('capabilities: [{match: {driver: x, driver_version: "~1"}, '
     'document: {}}]',
     "at capabilities[0].match.driver_version: '~1' is not a version"),
    ('capabilities: [{match: {driver: x, colour: red}, document: {}}]',
     "at capabilities[0].match: Additional properties are not allowed"),
    ('capabilities: [{match: {pci_ids: [{vendor: 0x10de}]}, '
     'document: {}}]', "'device' is a required property"),
    ('a: &x [1]\nb: *x', 'YAML aliases are not allowed'),
])
def test_an_invalid_file_is_one_error_naming_it(tmp_path, text, message):
    (tmp_path / 'bad.yaml').write_text(text)
    write(tmp_path, 'good.yaml', entry('{driver: nvidia}'))
    catalogue = capability_files.load([str(tmp_path)])
    (error,) = catalogue.errors
    assert error.startswith(str(tmp_path / 'bad.yaml') + ': ')
    assert message in error
    assert catalogue.claim(target()).entry.path == str(
        tmp_path / 'good.yaml')


def test_an_absurdly_large_file_is_refused_unread(tmp_path):
    path = tmp_path / 'huge.json'
    with open(path, 'w') as f:
        f.write('{"capabilities": [' + ' ' * (1 << 20))
    (error,) = capability_files.load([str(tmp_path)], max_bytes=4096).errors
    assert error == '%s: is larger than the limit of 4096 bytes' % path


def test_other_files_and_missing_directories_are_skipped(tmp_path):
    (tmp_path / 'README').write_text('not a capability file')
    (tmp_path / 'a.yaml.example').write_text('[')
    (tmp_path / '.hidden.yaml').write_text('[')
    (tmp_path / 'dir.yaml').mkdir()
    catalogue = capability_files.load([str(tmp_path),
                                       str(tmp_path / 'missing')])
    assert catalogue == capability_files.Catalogue()


def test_the_shipped_examples_are_valid_and_marked():
    paths = sorted(glob.glob(os.path.join(EXAMPLES, '*.example')))
    assert len(paths) >= 3
    for path in paths:
        with open(path) as f:
            text = f.read()
        assert text.startswith('# EXAMPLE ONLY - not vendor data.')
        entries = capability_files.parse_file(
            records.parse_text(text, path), path)
        assert entries and all(e.error is None for e in entries), path


@pytest.mark.parametrize('bad_entry, message', [
    ('  - match: {driver: nvidia, colour: red}\n    document: {}\n',
     'at capabilities[1].match: Additional properties are not allowed'),
    ('  - match: {driver: x, driver_version: "~1"}\n    document: {}\n',
     "at capabilities[1].match.driver_version: '~1' is not a version"),
    ('  - document: {}\n',
     "at capabilities[1]: 'match' is a required property"),
    ('  - 7\n', "at capabilities[1]: 7 is not of type 'object'"),
    ('  - match: {driver: "nvidia\\n"}\n    document: {}\n',
     'at capabilities[1].match.driver: '),
])
def test_a_bad_entry_spoils_only_itself_not_its_file(tmp_path, bad_entry,
                                                     message):
    path = write(tmp_path, 'a.yaml', entry('{driver: i915}'), bad_entry,
                 entry('{driver: nvidia}', minor=3))
    catalogue = capability_files.load([str(tmp_path)])
    (error,) = catalogue.errors
    assert error.startswith('%s: ' % path) and message in error, error
    assert error.endswith('; entry ignored')
    # The entries before and after it are used.
    assert catalogue.claim(target(driver='i915')).entry.index == 0
    got = catalogue.claim(target())
    assert got.entry.index == 2 and got.errors == ()


def test_an_entry_with_a_duplicate_key_voids_its_file_naming_the_key(
        tmp_path):
    # A duplicate key is refused while the file is parsed: which entry
    # would the other entries even be?
    (tmp_path / 'dup.yaml').write_text(
        'capabilities:\n  - match: {driver: a, driver: b}\n'
        '    document: {}\n')
    (error,) = capability_files.load([str(tmp_path)]).errors
    assert "duplicate key 'driver'" in error


def test_a_fifo_in_the_capability_directory_is_named_unread(tmp_path):
    # Never read (it would block), never silently skipped: a capability
    # file that cannot be read, and the other files still claim.
    os.mkfifo(tmp_path / 'fifo.yaml')
    write(tmp_path, 'good.yaml', entry('{driver: nvidia}'))
    catalogue = capability_files.load([str(tmp_path)])
    (error,) = catalogue.errors
    assert error.startswith(str(tmp_path / 'fifo.yaml'))
    assert 'FIFO' in error
    assert catalogue.unreadable == catalogue.errors
    assert catalogue.claim(target()).entry is not None


def test_a_dangling_capability_link_is_named_not_skipped(tmp_path):
    os.symlink(tmp_path / 'gone.yaml', tmp_path / 'vendor.yaml')
    write(tmp_path, 'good.yaml', entry('{driver: nvidia}'))
    catalogue = capability_files.load([str(tmp_path)])
    (error,) = catalogue.errors
    assert error.startswith(str(tmp_path / 'vendor.yaml'))
    assert catalogue.unreadable == catalogue.errors
    assert catalogue.claim(target()).entry is not None
