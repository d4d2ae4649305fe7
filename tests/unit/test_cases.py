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

"""Walk the declarative compatibility table in cases/compatibility.yaml."""

import os

import pytest
import yaml

from nova_vfio_compat.model import records
from nova_vfio_compat.model import rules
from nova_vfio_compat.model import traits

_HERE = os.path.dirname(__file__)


def _cases():
    with open(os.path.join(_HERE, 'cases', 'compatibility.yaml')) as f:
        cases = yaml.safe_load(f)
    return [pytest.param(case, id=case['name']) for case in cases]


@pytest.mark.parametrize('case', _cases())
def test_case(case):
    source = records.parse_document(case['source'], 'source')
    dest = records.parse_document(case['dest'], 'dest')

    verdict = rules.check(source, dest)

    assert verdict.compatible is case['compatible']
    if 'reasons' in case:
        assert list(verdict.reasons) == case['reasons']
    if verdict.compatible:
        assert verdict.reasons == ()
    else:
        assert verdict.reasons, 'an incompatible verdict must say why'
    if 'create' in case:
        assert verdict.to_dict()['create'] == case['create']
    # The compiled form must give the same answer as the rules.
    assert traits.can_migrate(traits.document_traits(source),
                              traits.document_traits(dest)) is \
        case['compatible']
