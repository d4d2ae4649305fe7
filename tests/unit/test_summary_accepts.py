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

"""The compute node provider's summary of its GPUs' accept traits.

For any devices (any accepted ranges, of one or two majors): a provider
carrying :func:`traits.summary_accept_traits` of their traits accepts a
stream exactly when one of them does, so a listing of the providers that
accept it (``required=in:`` :func:`traits.accept_traits_for`) names the
root exactly when it names one of its devices; and it never has more
names than their accept traits.
"""

from hypothesis import given
from hypothesis import strategies as st

from nova_vfio_compat.model import traits
from tests import encodings

TOP = 70
ranges = st.tuples(st.integers(1, 2), st.integers(0, TOP),
                   st.integers(0, TOP)).map(
    lambda t: (t[0], max(t[1], t[2]), min(t[1], t[2])))


# Every stream the devices below could accept, with its accept names.
WANTED = {(major, minor): traits.accept_traits_for(traits.emit_trait(
    encodings.range_document(major, minor).emits))
    for major in (1, 2) for minor in range(TOP + 2)}


@given(st.lists(ranges, min_size=1, max_size=6))
def test_the_summary_accepts_exactly_what_one_device_accepts(spans):
    devices = [traits.document_traits(encodings.range_document(*s))
               for s in spans]
    summary = traits.summary_accept_traits(frozenset().union(*devices))
    accepts = frozenset().union(*(
        {n for n in d if n.startswith(traits.ACCEPT_PREFIX)}
        for d in devices))
    assert len(summary) <= len(accepts)
    assert all(traits.parse(n).kind == 'A' for n in summary)
    for version, wanted in WANTED.items():
        assert (not summary.isdisjoint(wanted)) == any(
            not d.isdisjoint(wanted) for d in devices), version


def test_ranges_that_meet_cost_the_blocks_of_their_union():
    low = traits.document_traits(encodings.range_document(1, 3, 0))
    high = traits.document_traits(encodings.range_document(1, 7, 4))
    (block,) = traits.summary_accept_traits(low | high)
    assert block.endswith('_M0_7')
