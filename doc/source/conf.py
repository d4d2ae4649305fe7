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

# Sphinx configuration of the nova-vfio-compat documentation.
#
# Built by "tox -e docs" with warnings as errors. The configuration
# reference and the sample file are generated from the code's option
# definitions (the oslo.config.opts entry point), so they cannot drift.

extensions = [
    'openstackdocstheme',
    'oslo_config.sphinxext',
    'oslo_config.sphinxconfiggen',
]

# oslo_config.sphinxconfiggen: writes _static/nova-vfio-compat.conf.sample
# from the same generator file as "tox -e genconfig".
config_generator_config_file = (
    '../../etc/nova-vfio-compat/nova-vfio-compat-config-generator.conf')
sample_config_basename = '_static/nova-vfio-compat'

# openstackdocstheme
openstackdocs_repo_name = 'openstack/nova-vfio-compat'
openstackdocs_bug_project = 'nova-vfio-compat'
openstackdocs_bug_tag = 'doc'
openstackdocs_auto_name = False

project = 'nova-vfio-compat'
copyright = '2026, OpenStack Foundation'
source_suffix = '.rst'
master_doc = 'index'
language = 'en'
exclude_patterns = []
pygments_style = 'native'
html_theme = 'openstackdocs'
html_static_path = ['_static']
html_last_updated_fmt = '%Y-%m-%d %H:%M'
