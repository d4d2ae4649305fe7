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

"""The nova.conf text nova-config prints carries exactly the sections and
options it was given, whatever their text, as oslo.config parses it."""

import dataclasses
import os
import tempfile

from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st
from oslo_config import cfg
import pytest

from nova_vfio_compat.reporter import generated_config
from tests import reporter_devices as rd


def _parsed(text):
    """``{section: {option: [raw values]}}`` as oslo.config reads it."""
    with tempfile.NamedTemporaryFile('w', suffix='.conf',
                                     delete=False) as f:
        f.write(text)
    try:
        sections = {}
        cfg.ConfigParser(f.name, sections).parse()
        return sections
    finally:
        os.unlink(f.name)


def _unescaped(value):
    return value.replace('$$', '$')


# Text rich in what INI syntax gives a meaning to, and any text.
_ini = st.lists(st.sampled_from(
    list('ab_1-.$=[]#;, \t\n\r\x0b\x0c\x85\u2028') + ['DEFAULT']),
    min_size=1, max_size=8).map(''.join)
_text = st.one_of(_ini, _ini, st.text(max_size=12))
_valid = st.from_regex(r'[a-z_]{1,8}', fullmatch=True)
_values = st.one_of(_text, st.lists(_text, min_size=1, max_size=3))


def _check(data):
    try:
        text = generated_config.nova_conf_text(data)
    except generated_config.UnsafeText as e:
        assert '\n' not in str(e)
        return
    parsed = _parsed(text)
    assert set(parsed) == set(data)
    for section, options in data.items():
        assert set(parsed[section]) == set(options)
        for name, value in options.items():
            (raw,) = parsed[section][name]
            if isinstance(value, list):
                # As a ListOpt splits it.
                assert [_unescaped(v.strip())
                        for v in raw.split(',')] == value
            else:
                assert _unescaped(raw) == value


@given(st.dictionaries(_valid, st.dictionaries(_valid, _values,
                                               min_size=1, max_size=2),
                       min_size=1, max_size=2))
# oslo.config drops a pair of quotes around a whole value.
@example({'a': {'b': '"'}})
@example({'a': {'b': ["'x", "y'"]}})
def test_values_never_carry_what_they_were_not_given(data):
    _check(data)


@given(_text, _text)
def test_names_never_carry_what_they_were_not_given(section, option):
    _check({section: {option: 'x'}})


def test_an_mdev_type_with_a_section_in_it_is_refused():
    evil = 'nvidia-222\n[DEFAULT]\ndebug = true'
    device = dataclasses.replace(rd.vgpu(), mdev_type=evil)
    with pytest.raises(generated_config.UnsafeText) as e:
        generated_config.nova_conf([device])
    assert 'cannot be written' in str(e.value)


def test_a_dollar_reaches_nova_as_a_dollar(tmp_path):
    data = {'mdev_a': {'mdev_class': 'CUSTOM_$X', 'device_addresses': [
        '0000:3b:00.0']}}
    path = tmp_path / 'nova.conf'
    path.write_text(generated_config.nova_conf_text(data))
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.StrOpt('mdev_class'), group='mdev_a')
    conf([], default_config_files=[str(path)])
    assert conf.mdev_a.mdev_class == 'CUSTOM_$X'
