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


"""Encoding 2's accept traits: the dyadic cover, and the equivalence of
``traits.can_migrate`` and the filter's decision with the rules for every
pair of documents, whatever the width of the accepted ranges, with
destinations of either encoding."""

import json

from hypothesis import event
from hypothesis import given
from hypothesis import strategies as st

from nova_vfio_compat.model import records
from nova_vfio_compat.model import rules
from nova_vfio_compat.model import traits
from nova_vfio_compat.selection import decision
from tests import budget
from tests import encodings
from tests import strategies

MINORS = st.one_of(st.integers(0, 64), st.integers(0, traits.MAX_MINOR),
                   st.sampled_from([0, 2 ** 31 - 1, 2 ** 31, traits.MAX_MINOR,
                                    2 ** 16 - 1, 2 ** 16]))


@st.composite
def ranges(draw):
    low, high = sorted((draw(MINORS), draw(MINORS)))
    return low, high


def _members(blocks):
    return sum(high - low + 1 for low, high in blocks)


@budget.central
@given(ranges())
def test_cover_is_exact_disjoint_aligned_and_small(span):
    low, high = span
    blocks = traits.cover(low, high)
    # Exact and disjoint: in order, each starting where the last ended.
    assert blocks[0][0] == low and blocks[-1][1] == high
    for (_, end), (start, _) in zip(blocks, blocks[1:]):
        assert start == end + 1
    assert _members(blocks) == high - low + 1
    levels = []
    for start, end in blocks:
        size = end - start + 1
        assert size & (size - 1) == 0, 'not a power of two'
        assert start % size == 0, 'not aligned'
        levels.append(size.bit_length() - 1)
    # Bounded: at most two blocks per level, 2*log2(width) in all.
    assert all(levels.count(level) <= 2 for level in levels)
    width = high - low + 1
    assert len(blocks) <= max(1, 2 * (width.bit_length() - 1))
    assert len(blocks) <= 2 * traits.MINOR_BITS - 2


@budget.central
@given(ranges(), MINORS)
def test_a_minor_is_accepted_by_exactly_one_block_of_a_range_holding_it(
        span, minor):
    low, high = span
    containing = set(traits.blocks_containing(minor))
    hits = containing & set(traits.cover(low, high))
    assert len(hits) == (1 if low <= minor <= high else 0)


def test_every_small_range_and_minor_exhaustively():
    """All ranges within 0..15 and every minor 0..17, through the names."""
    sources = {m: traits.document_traits(_record_doc(m, None))
               for m in range(18)}
    for low in range(16):
        for high in range(low, 16):
            dest = _record_doc(high, low)
            v2 = traits.document_traits(dest)
            v1 = encodings.v1_traits(dest)
            assert len(v2) - 1 == len(traits.cover(low, high))
            for minor, src in sources.items():
                want = low <= minor <= high
                for dest_traits in (v2, v1):
                    assert traits.can_migrate(src, dest_traits) is want, (
                        low, high, minor)
                    assert _passes(src, dest_traits) is want, (
                        low, high, minor)


def _record_doc(minor, minor_min):
    return encodings.range_document(1, minor, minor_min)


def _passes(source_traits, dest_traits):
    """The filter's decision for a one-GPU destination host.

    Placement's ``required=in:`` is "carries any of the names" (the real
    Placement is held to that in
    tests/functional/reporter/test_accept_query.py).
    """
    src = decision.SourceDevice('src', 'src', source_traits,
                                frozenset(['VGPU']))
    accepting = {}
    for emit in src.streams:
        names = traits.accept_traits_for(emit)
        accepting[emit] = {p: 'root' for p in ('gpu', 'root')
                           if not dest_traits.isdisjoint(names)}
    candidate = {'allocations': {'root': {'resources': {'VCPU': 1}},
                                 'gpu': {'resources': {'VGPU': 1}}}}
    return decision.Streams([src], accepting).decide(
        'root', [candidate]).passes


def _widened(pair, minors):
    """``pair`` with every minor ``m`` replaced by ``minors[m]``.

    ``minors`` is strictly increasing, so every range test the rules make
    answers as before: the verdict is the one of ``pair``.
    """
    # A copy without shared parts: the strategies reuse dicts.
    out = json.loads(json.dumps(pair))

    def visit(record):
        version = record['version']
        for key in ('minor', 'minor_min'):
            if key in version:
                version[key] = minors[version[key]]

    for doc in out:
        if 'self' in doc:
            visit(doc['self'])
            for record in doc.get('compatible', []):
                visit(record)
        else:
            visit(doc)
    return out


WIDE = st.lists(st.integers(0, 2 ** 31 - 1), min_size=7, max_size=7,
                unique=True).map(sorted)


@budget.central
@given(strategies.related_pairs(), WIDE, st.booleans())
def test_traits_and_filter_agree_with_the_rules_on_wide_ranges(
        pair, minors, dest_v1):
    narrow = [records.parse_document(d, n) for d, n in zip(pair, 'sd')]
    source, dest = [records.parse_document(d, n)
                    for d, n in zip(_widened(pair, minors), 'sd')]
    verdict = rules.check(source, dest)
    assert verdict.compatible is rules.check(*narrow).compatible
    event('compatible' if verdict.compatible else 'incompatible')
    # A destination not upgraded yet publishes one name per minor: only
    # affordable for the narrow pair.
    if dest_v1:
        source, dest = narrow
        dest_traits = encodings.v1_traits(dest)
    else:
        dest_traits = traits.document_traits(dest)
    assert traits.can_migrate(traits.document_traits(source),
                              dest_traits) is verdict.compatible
    assert _passes(traits.document_traits(source),
                   dest_traits) is verdict.compatible
    assert traits.count_traits(dest) <= 1 + len(dest.accepts) * (2 * 31 - 2)
