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

"""Configuration options of ironic-keylime.

All options live in the modules of this package, each with its help text;
:func:`register_opts` registers them on a configuration object and
:mod:`ironic_keylime.conf.opts` lists them for the sample generator and the
documentation.
"""

from oslo_config import cfg

from ironic_keylime.conf import attestation
from ironic_keylime.conf import keylime
from ironic_keylime.conf import swift

CONF = cfg.CONF


def register_opts(conf):
    """Register every ironic-keylime option on ``conf``.

    :param conf: an :class:`oslo_config.cfg.ConfigOpts` instance.
    """
    attestation.register_opts(conf)
    keylime.register_opts(conf)
    swift.register_opts(conf)


register_opts(CONF)
