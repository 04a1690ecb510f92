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

"""``[DEFAULT]`` options of the attestation interface type.

Ironic names the options of every interface type
``enabled_<type>_interfaces`` and ``default_<type>_interface``; these two
follow that rule for the ``attestation`` type that ironic-keylime brings.
"""

from oslo_config import cfg

from ironic_keylime.common.i18n import _

default_opts = [
    cfg.ListOpt('enabled_attestation_interfaces',
                default=['no-attestation'],
                help=_('Specify the list of attestation interfaces to load '
                       'during service initialization. Missing attestation '
                       'interfaces, or attestation interfaces which fail to '
                       'initialize, will prevent the ironic-conductor '
                       'service from starting. At least one attestation '
                       'interface that is supported by each enabled '
                       'hardware type must be enabled here, or the '
                       'ironic-conductor service will not start. Must not '
                       'be an empty list. The default value is '
                       '"no-attestation".')),
    cfg.StrOpt('default_attestation_interface',
               help=_('Default attestation interface to be used for nodes '
                      'that do not have attestation_interface set in '
                      'driver_info. If no default is specified, the first '
                      'enabled attestation interface supported by the '
                      'hardware type is used.')),
]


def register_opts(conf):
    """Register the options, unless Ironic already has them.

    An Ironic with native support for the attestation interface type
    defines these options itself; registering ours beside them would fail
    with DuplicateOptError.
    """
    for opt in default_opts:
        if opt.dest not in conf:
            conf.register_opt(opt)
