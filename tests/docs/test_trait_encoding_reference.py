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

"""The worked example of doc/source/reference/trait-encoding.rst is what
the code computes, so the reference cannot drift from the encoding."""

import hashlib
import os
import re

from nova_vfio_compat.host import files
from nova_vfio_compat.model import traits
from nova_vfio_compat import samples

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PAGE = os.path.join(REPO, 'doc', 'source', 'reference', 'trait-encoding.rst')


def worked_example():
    with open(PAGE) as f:
        text = f.read()
    return text.split('Worked example')[1].split('\nThe test\n')[0]


def sample_document():
    return files.load_document(samples.path('mlx5-vf-fw28.43.yaml'))


def test_names_in_the_worked_example_are_the_computed_ones():
    doc = sample_document()
    text = worked_example()
    names = set(re.findall(r'CUSTOM_VFC_[A-Z0-9_]+[A-Z0-9]', text))
    computed = traits.document_traits(doc) | {
        traits.resource_class(doc.emits)}
    assert names
    assert names <= computed, names - computed
    assert traits.emit_trait(doc.emits) in names
    assert traits.resource_class(doc.emits) in names
    stream = traits.stream_name(doc.emits)
    assert '``%s``' % stream in text
    # "two traits": the accept range 39..43 of the sample.
    assert len(traits.accept_traits(doc.accepts[0])) == 2
    assert len(traits.v1_accept_traits(doc.accepts[0])) == 5


def test_the_cover_table_is_what_the_code_computes():
    with open(PAGE) as f:
        text = f.read()
    table = text.split('\nThe cover\n')[1].split('\nThe test\n')[0]
    rows = [line for line in table.splitlines()
            if re.match(r'^\d+\.\.\d+ ', line)]
    assert len(rows) == 5
    for row in rows:
        span, rest = row.split(None, 1)
        low, high = (int(x) for x in span.split('..'))
        count = int(rest.split()[-1])
        blocks = traits.cover(low, high)
        assert len(blocks) == count, row
        if not rest.startswith('two per level'):
            # The listed blocks start the row and go on on the next line.
            listed = re.findall(r'(\d+)\.\.(\d+)',
                                table[table.index(row):].split('\n\n')[0]
                                .split('\n=')[0])
            shown = [(int(a), int(b)) for a, b in listed][1:len(blocks) + 1]
            assert shown == blocks, row


def test_canonical_identity_and_hashes_in_the_worked_example():
    record = sample_document().emits
    text = worked_example()
    assert record.identity_key() in text
    identity_hash = hashlib.sha256(
        record.identity_key().encode('utf-8')).hexdigest()[:16]
    family_hash = hashlib.sha256(
        record.family_key().encode('utf-8')).hexdigest()[:16]
    assert '``%s``' % identity_hash in text
    assert '``%s``' % family_hash in text


def test_the_mdev_type_trait_examples_are_what_the_code_computes():
    with open(PAGE) as f:
        text = f.read()
    section = text.split('\nThe mdev type trait\n')[1].split(
        'Worked example')[0]
    section = ' '.join(section.split())
    examples = re.findall(
        r'``([A-Za-z0-9_.:+-]+)`` is ``(CUSTOM_[A-Z0-9_]+)``', section)
    assert len(examples) == 3
    for mdev_type, name in examples:
        assert traits.mdev_type_trait(mdev_type) == name
        assert traits.mdev_type_of(name) == mdev_type
    # The bound the page states, and the longest trait it takes.
    assert '1 to %d letters' % traits.MAX_MDEV_TYPE_LENGTH in section
    longest = max(len(traits.mdev_type_trait(first + sep * 127))
                  for first in 'aZ9' for sep in '-_.:+')
    assert 'the longest trait is then %d characters' % longest in section
