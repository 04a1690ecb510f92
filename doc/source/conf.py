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

# -- General configuration ----------------------------------------------------

extensions = [
    'oslo_config.sphinxext',
    'oslo_config.sphinxconfiggen',
    'oslo_policy.sphinxext',
    'openstackdocstheme',
]

config_generator_config_file = '../../tools/config-generator.conf'
sample_config_basename = '_static/ironic-keylime'

openstackdocs_repo_name = 'openstack/ironic-keylime'
openstackdocs_use_storyboard = False
openstackdocs_bug_project = 'ironic-keylime'
openstackdocs_bug_tag = ''

source_suffix = '.rst'
master_doc = 'index'

project = 'ironic-keylime'
copyright = '2026, The ironic-keylime Authors'

add_module_names = True
pygments_style = 'native'

# -- Options for HTML output --------------------------------------------------

html_theme = 'openstackdocs'
html_static_path = ['_static']
htmlhelp_basename = '%sdoc' % project
