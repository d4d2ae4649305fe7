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

import pytest

from nova_vfio_compat.host.discovery import version_range


@pytest.mark.parametrize('text,version,inside', [
    ('>=550.54, <551', '550.54.14', True),
    ('>=550.54, <551', '550.53.99', False),
    ('>=550.54, <551', '551', False),
    ('>=550.54, <551', '551.0.0', False),
    ('550.54.14', '550.54.14', True),
    ('==550.54.14', '550.54.15', False),
    ('!=1.2', '1.2.0', False),
    ('>1.2', '1.2.0.1', True),
    ('<=1.2', '1.2', True),
    ('<=1.2', '1.10', False),
    ('>=22.36.1010', '22.36.1010', True),
    ('>=1.2', '1.2-k', True),
    ('>=1.2', 'unversioned', False),
    ('>=1.2', None, False),
])
def test_contains(text, version, inside):
    assert version_range.VersionRange(text).contains(version) is inside


def test_numbers_not_text_are_compared():
    key = version_range.version_key
    assert key('1.10') > key('1.9')
    assert key('5.15.0-91-generic') == (5, 15, 0, 91)
    assert key('1.2.0') == key('1.2')


@pytest.mark.parametrize('text', ['', ' , ', '>=', '~1.2', '>= 1.2 3',
                                  '>=one'])
def test_invalid_ranges_say_why(text):
    with pytest.raises(version_range.InvalidRange) as e:
        version_range.VersionRange(text)
    assert str(e.value)
