#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Options of the list sources: the Swift container and the list cache."""

from oslo_config import cfg

from ironic_keylime.common.i18n import _  # noqa: F401

# Registered in the [keylime] group, next to the interface's own options.
swift_opts = []


def register_opts(conf):
    conf.register_opts(swift_opts, group='keylime')
