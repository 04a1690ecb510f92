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

"""Keylime's runtime policy, built from a flat allowlist and an
excludelist."""

import hashlib
import json

from ironic_keylime.lists import excludes
from ironic_keylime.lists import formats

_KEYRING_PREFIX = '%keyring:'


def build_runtime_policy(allowlist_path, excludelist_path, out_path,
                         log_hash_alg='sha1'):
    """Convert a flat allowlist and an excludelist to a runtime policy.

    Follows Keylime's own ``keylime_convert_runtime_policy`` (format
    version 1): ``%keyring:`` entries go to ``keyrings``, every other
    entry to ``digests``, the excludelist lines to ``excludes``.

    :param allowlist_path: the flat allowlist.
    :param excludelist_path: the excludelist, or None.
    :param out_path: the JSON file to create (mode 0600).
    :param log_hash_alg: the template hash algorithm of the IMA log.
    :returns: the SHA-256 hex digest of the written policy.
    """
    digests = {}
    keyrings = {}
    with open(allowlist_path, encoding='utf-8', errors='replace') as f:
        for line in f:
            entry = formats.allowlist_entry(line)
            if not entry:
                continue
            digest, name = entry
            target = digests
            if name.startswith(_KEYRING_PREFIX):
                name = name[len(_KEYRING_PREFIX):]
                target = keyrings
            target.setdefault(name, []).append(digest.lower())
    policy = {
        'meta': {'version': 1, 'generator': 3},
        'release': 0,
        'digests': digests,
        'excludes': (excludes.read_excludes(excludelist_path)
                     if excludelist_path else []),
        'keyrings': keyrings,
        'ima': {'ignored_keyrings': [], 'log_hash_alg': log_hash_alg,
                'dm_policy': None},
        'ima-buf': {},
        'verification-keys': '',
    }
    data = json.dumps(policy).encode('utf-8')
    with formats.open_private(out_path) as out:
        out.write(data)
    return hashlib.sha256(data).hexdigest()
