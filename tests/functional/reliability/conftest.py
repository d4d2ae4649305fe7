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

"""The real Placement app behind a faulty network, on a real socket.

The socket (a threaded wsgiref server on 127.0.0.1) is what lets a
request time out on the client side, as it would in production.
"""

import dataclasses
import threading

from openstack import connection
import pytest

from nova_vfio_compat.demo import local_placement
from tests.functional.reliability import faults

# The client gives up on a stalled request after this long. Long enough
# that an ordinary request on a loaded 2-core machine (several test
# processes at once) is not mistaken for a stall; the few stalls the
# tests inject cost twice this each.
CLIENT_TIMEOUT = 2.0


@dataclasses.dataclass
class FaultyPlacement:
    endpoint: str
    network: faults.FaultyNetwork
    conn: connection.Connection


def sdk(endpoint, timeout=CLIENT_TIMEOUT):
    return local_placement.sdk_connection(endpoint, timeout=timeout)


@pytest.fixture
def faulty_placement():
    """Placement (in-memory sqlite) behind :class:`faults.FaultyNetwork`."""
    yield from _faulty_placement()


@pytest.fixture(scope='module')
def shared_faulty_placement():
    """One :func:`faulty_placement` for the tests of a module that only read.

    Each of them plans the faults it injects and finds none planned or
    counted (``injected``) by the one before.
    """
    yield from _faulty_placement()


def _faulty_placement():
    placement = local_placement.in_process()
    network = faults.FaultyNetwork(placement.app,
                                   stall_seconds=CLIENT_TIMEOUT * 2)
    server = local_placement.make_server(network)
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    endpoint = 'http://127.0.0.1:%d' % server.server_address[1]
    try:
        yield FaultyPlacement(endpoint, network, sdk(endpoint))
    finally:
        network.heal()
        server.shutdown()
        server.server_close()
        placement.close()
