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

"""libvirt's hostname rules and the order in which the root provider is
identified.

The resolver's answers are given as functions: a test cannot change this
machine's host name or /etc/hosts (``127.0.0.1 localhost compute1``).
"""

import os
import socket
import threading
import uuid

from oslo_config import cfg
import pytest

from nova_vfio_compat import conf as nvc_conf
from nova_vfio_compat.host import compute_conf
from nova_vfio_compat.reporter import hostname


def resolver(canonical=None, error=None):
    calls = []

    def getaddrinfo(name, port, flags=0):
        calls.append(name)
        assert flags & socket.AI_CANONNAME
        if error:
            raise error
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, canonical,
                 ('127.0.0.1', 0)),
                (socket.AF_INET, socket.SOCK_DGRAM, 17, '', ('127.0.0.1', 0))]
    getaddrinfo.calls = calls
    return getaddrinfo


@pytest.mark.parametrize('system, canonical, error, expected, asked', [
    # /etc/hosts "127.0.0.1 localhost compute1": the canonical name is
    # localhost, so libvirt keeps the host name.
    ('compute1', 'localhost', None, 'compute1', True),
    ('compute1', 'localhost.localdomain', None, 'compute1', True),
    ('compute1', 'compute1.example.com', None, 'compute1.example.com', True),
    ('compute1', '', None, 'compute1', True),
    ('compute1', None, socket.gaierror(-2, 'Name or service not known'),
     'compute1', True),
    # a dot, or a localhost name: as it is, without asking the resolver
    ('compute1.example.com', 'other.example.com', None,
     'compute1.example.com', False),
    ('localhost', 'compute1.example.com', None, 'localhost', False),
    ('localhost6', 'compute1.example.com', None, 'localhost6', False),
])
def test_libvirt_hostname_rules(system, canonical, error, expected, asked):
    getaddrinfo = resolver(canonical, error)
    assert hostname.hypervisor_hostname(lambda: system,
                                        getaddrinfo) == expected
    assert bool(getaddrinfo.calls) == asked


def test_this_machine():
    assert hostname.hypervisor_hostname()


@pytest.fixture
def conf():
    c = cfg.ConfigOpts()
    nvc_conf.register_all(c)
    c([], default_config_files=[])
    return c


def _nova(tmp_path, stored):
    state = tmp_path / 'state'
    state.mkdir()
    (state / compute_conf.COMPUTE_ID_FILE).write_text(stored)
    path = tmp_path / 'nova.conf'
    path.write_text('[DEFAULT]\nstate_path = %s\n' % state)
    return compute_conf.load([str(path)])


def test_identity_order(tmp_path, conf):
    stored, chosen = str(uuid.uuid4()), str(uuid.uuid4())
    nova = _nova(tmp_path, stored)
    conf.set_override('root_provider_name', 'cmp1', group='reporter')
    by_file = hostname.root_identity(conf, nova)
    assert (by_file.uuid, by_file.name) == (stored, None)
    assert 'compute_id' in by_file.how
    assert hostname.root_identity(conf, compute_conf.load()).name == 'cmp1'
    conf.set_override('root_provider_uuid', chosen, group='reporter')
    assert hostname.root_identity(conf, nova).uuid == chosen
    conf.clear_override('root_provider_uuid', group='reporter')
    conf.clear_override('root_provider_name', group='reporter')
    assert hostname.root_identity(conf, compute_conf.load()).name == \
        hostname.hypervisor_hostname()


def test_a_broken_compute_id_is_named(tmp_path, conf):
    nova = _nova(tmp_path, 'garbage')
    with pytest.raises(compute_conf.InvalidNodeIdentity,
                       match='compute_id: not a UUID'):
        hostname.root_identity(conf, nova)


def _in_thread(func, timeout=5):
    """``func()``'s outcome; fails if it blocks for ``timeout`` seconds."""
    outcome = {}

    def run():
        try:
            outcome['value'] = func()
        except Exception as e:
            outcome['error'] = e

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    return worker.is_alive(), outcome


def test_a_fifo_compute_id_is_refused_without_blocking(tmp_path, conf):
    nova = _nova(tmp_path, str(uuid.uuid4()))
    fifo = tmp_path / 'state' / compute_conf.COMPUTE_ID_FILE
    fifo.unlink()
    os.mkfifo(fifo)
    blocked, outcome = _in_thread(lambda: hostname.root_identity(conf, nova))
    if blocked:
        # Release the reader stuck on the FIFO, then fail.
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail('reading a FIFO compute_id blocked')
    error = outcome.get('error')
    assert isinstance(error, compute_conf.InvalidNodeIdentity), outcome
    assert str(fifo) in str(error) and 'FIFO' in str(error)


@pytest.mark.parametrize('content', [
    b'\xff\xfe' + str(uuid.uuid4()).encode(),
    str(uuid.uuid4()).encode() + b'\n\x80',
])
def test_a_compute_id_that_is_not_utf8_is_named(tmp_path, conf, content):
    nova = _nova(tmp_path, 'placeholder')
    path = tmp_path / 'state' / compute_conf.COMPUTE_ID_FILE
    path.write_bytes(content)
    with pytest.raises(compute_conf.InvalidNodeIdentity) as e:
        hostname.root_identity(conf, nova)
    assert str(path) in str(e.value) and 'UTF-8' in str(e.value)


def test_a_dangling_compute_id_link_is_skipped_as_by_nova(tmp_path, conf):
    # nova.virt.node.read_local_node_uuid: FileNotFoundError, next place.
    nova = _nova(tmp_path, 'placeholder')
    path = tmp_path / 'state' / compute_conf.COMPUTE_ID_FILE
    path.unlink()
    path.symlink_to(tmp_path / 'nowhere')
    conf.set_override('root_provider_name', 'cmp1', group='reporter')
    assert hostname.root_identity(conf, nova).name == 'cmp1'
