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

"""Options of the lists in Swift: reading the container, and the cache."""

from oslo_config import cfg

from ironic_keylime.common.i18n import _

# Registered in the [keylime] group, next to the interface's own options.
# The conductor authenticates to Swift with Ironic's own [swift] group
# (keystoneauth1 auth, session and adapter options); these only tune how
# the lists are read and cached.
swift_opts = [
    cfg.StrOpt('swift_account',
               default='',
               help=_('Swift account (for example AUTH_<project id>) '
                      'holding the containers named by '
                      'driver_info/keylime_container. Empty: the account '
                      'of the project the conductor authenticates to with '
                      'the [swift] options. Set it when the lists live in '
                      'a project of their own; that project must grant the '
                      'conductor\'s user read access to each container '
                      '(X-Container-Read).')),
    cfg.FloatOpt('swift_timeout',
                 default=10.0,
                 min=0.1,
                 help=_('Seconds the conductor waits for Swift to accept a '
                        'connection or to send the next piece of an '
                        'answer, for each request. Also the timeout of '
                        'the authentication request when [swift]timeout '
                        'is not set.')),
    cfg.IntOpt('swift_retries',
               default=2,
               min=0,
               help=_('How many times a Swift request that failed for a '
                      'passing reason (connection refused or reset, '
                      'timeout, a 5xx answer) is tried again before the '
                      'attestation fails. Missing containers or objects '
                      'and refused credentials are never retried.')),
    cfg.FloatOpt('swift_retry_delay',
                 default=1.0,
                 min=0.0,
                 help=_('Seconds to wait before the first retry of a '
                        'Swift request; the wait doubles with each retry. '
                        'With the defaults, Swift being down costs a '
                        'conductor worker about 3 seconds (refused '
                        'connections) and at most about 33 seconds '
                        '(timeouts) before the node fails.')),
]

cache_opts = [
    cfg.StrOpt('list_cache_dir',
               default='$state_path/keylime-list-cache',
               help=_('Directory where the conductor keeps allowlists and '
                      'excludelists downloaded from Swift, so that nodes '
                      'sharing a container do not download them again. '
                      'Entries are keyed by account, container, object '
                      'and Swift ETag: a changed object is always '
                      'downloaded again. The allowlist is verified against '
                      'its checksum (always read from Swift) on every '
                      'use. Created with mode 0700; files are 0600.')),
    cfg.IntOpt('list_cache_size',
               default=1024,
               min=0,
               help=_('Largest total size, in MiB, of the list cache. The '
                      'least recently used lists are removed beyond it; a '
                      'list larger than the whole cache is not cached. 0 '
                      'disables the cache: every node downloads its '
                      'lists.')),
]


def register_opts(conf):
    conf.register_opts(swift_opts + cache_opts, group='keylime')
