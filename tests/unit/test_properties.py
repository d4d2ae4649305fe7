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

"""The central invariant: the rules and the traits agree, for every pair.

``rules.check`` is the reference semantics and ``traits`` its compiled
form; if they ever disagree a guest is sent to a host that refuses its
stream, or a good host is never used.  The number of examples comes from
the hypothesis profile (tests/conftest.py; CI runs the ``ci`` profile).
"""

from hypothesis import assume
from hypothesis import event
from hypothesis import given
from hypothesis import strategies as st

from nova_vfio_compat.model import records
from nova_vfio_compat.model import rules
from nova_vfio_compat.model import traits
from tests import budget
from tests import strategies


def _doc(data, source):
    return records.parse_document(data, source)


@budget.central
@given(strategies.related_pairs())
def test_rules_and_traits_agree_for_every_pair(pair):
    source, dest = _doc(pair[0], 'source'), _doc(pair[1], 'dest')
    verdict = rules.check(source, dest)
    event('compatible' if verdict.compatible else 'incompatible')

    assert traits.can_migrate(traits.document_traits(source),
                              traits.document_traits(dest)) \
        is verdict.compatible
    assert bool(verdict.reasons) is not verdict.compatible


@given(strategies.related_pairs(), st.lists(st.sampled_from([
    'HW_CPU_X86_AVX2', 'OWNER_NOVA', 'CUSTOM_OTHER_AGENT', 'COMPUTE_NODE'])))
def test_foreign_traits_do_not_change_the_answer(pair, foreign):
    source, dest = _doc(pair[0], 'source'), _doc(pair[1], 'dest')
    plain = traits.can_migrate(traits.document_traits(source),
                               traits.document_traits(dest))
    assert traits.can_migrate(traits.document_traits(source) | set(foreign),
                              traits.document_traits(dest) | set(foreign)) \
        is plain


@given(strategies.records(), strategies.records())
def test_emit_traits_are_injective(a, b):
    """Two streams share an emit trait exactly when they are one stream.

    The same identity and minor, however their names fold.
    """
    ra, rb = _doc(a, 'a').emits, _doc(b, 'b').emits
    same_stream = (ra.identity, ra.minor) == (rb.identity, rb.minor)
    event('same stream' if same_stream else 'different streams')
    assert (traits.emit_trait(ra) == traits.emit_trait(rb)) is same_stream


@given(strategies.records(), strategies.records())
def test_resource_classes_are_injective_per_family(a, b):
    ra, rb = _doc(a, 'a').emits, _doc(b, 'b').emits
    assert (traits.resource_class(ra) == traits.resource_class(rb)) is \
        (ra.family == rb.family)


@given(strategies.documents())
def test_every_name_is_a_legal_custom_trait(data):
    doc = _doc(data, 'doc')
    names = traits.document_traits(doc)
    for name in names | {traits.resource_class(doc.emits)}:
        assert traits.is_valid_name(name), name
        assert len(name) <= 255
        assert traits.is_owned(name)
    assert len(traits.emitted(names)) == 1
    assert len(names) == traits.count_traits(doc)


@given(strategies.documents())
def test_canonical_form_round_trips(data):
    doc = _doc(data, 'doc')
    assert _doc(records.document_to_dict(doc), 'again') == doc


@given(strategies.documents(), st.data())
def test_trait_bound_is_an_error_not_a_truncation(data, draw):
    doc = _doc(data, 'dev0')
    count = traits.count_traits(doc)
    assert len(traits.document_traits(doc, max_traits=count)) == count
    assume(count > 1)
    limit = draw.draw(st.integers(1, count - 1))
    try:
        traits.document_traits(doc, max_traits=limit)
    except traits.TraitLimitExceeded as e:
        assert 'dev0' in str(e)
        assert e.count == count
    else:
        raise AssertionError('no error for %d traits over %d'
                             % (count, limit))
