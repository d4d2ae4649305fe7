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


"""The filter's accept query against the real Placement.

Exhaustive over small ranges: a provider per accepted range of minors
0..5, published in encoding 2 and in encoding 1 (a host not upgraded
yet); for every emitted minor the providers ``RequestReads.accepting``
finds are exactly those whose range holds it.  This is also what the
unit tests' stand-in for ``required=in:`` (any of the names) is held to.
"""

from nova_vfio_compat.model import traits
from nova_vfio_compat.selection import placement_reads
from tests import encodings
from tests.functional.reporter import conftest as c

SIZE = 6


def _doc(minor, minor_min=None):
    return encodings.range_document(3, minor, minor_min)


def test_any_of_the_accept_names_finds_exactly_the_accepting_providers(
        placement):
    conn = placement.conn
    pl = conn.placement
    ranges = {}       # provider uuid: (low, high)
    for low in range(SIZE):
        for high in range(low, SIZE):
            doc = _doc(high, low)
            for encoding, names in (('v2', traits.document_traits(doc)),
                                    ('v1', encodings.v1_traits(doc))):
                rp = pl.create_resource_provider(
                    name='host-%s-%d-%d' % (encoding, low, high))
                c.set_traits(conn, rp, names)
                ranges[rp.id] = (low, high)

    def get(url, microversion):
        response = pl.get(url, microversion=microversion)
        assert response.status_code == 200, (url, response.text)
        return response.json()

    emits = {traits.emit_trait(_doc(m).emits): m for m in range(SIZE + 2)}
    placement.app.reset()
    accepting = placement_reads.RequestReads(get).accepting(emits)
    assert set(accepting) == set(emits)
    for emit, minor in emits.items():
        want = {uuid for uuid, (low, high) in ranges.items()
                if low <= minor <= high}
        assert set(accepting[emit]) == want, minor
        # Each provider is its own root here.
        assert all(root == uuid for uuid, root in accepting[emit].items())
    # One any-of query per stream with a published name (6 and 7 have
    # none: nobody published a block or minor holding them).
    queries = [r for r in placement.app.requests
               if r[1].endswith('/resource_providers')]
    assert len(queries) == SIZE
