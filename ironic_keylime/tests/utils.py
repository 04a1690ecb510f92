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

"""Test data of ironic-keylime, kept as Ironic keeps its own.

Like ``get_test_redfish_info()`` in Ironic's
``ironic/tests/unit/db/utils.py``: one place that says what a node's
``keylime_*`` driver_info looks like, and one way to write a file a test
needs. It imports nothing of Ironic, so unit and functional tests can use
it.
"""

import os


def get_test_keylime_info(**overrides):
    """The driver_info of a node with the keylime attestation interface.

    :param overrides: keys to set; a key given ``None`` is left out.
    :returns: a new dict: a verifier and a registrar on 127.0.0.1 and the
        lists from the Swift container ``lists``.
    """
    info = {'keylime_v': '127.0.0.1',
            'keylime_r': '127.0.0.1',
            'keylime_container': 'lists'}
    info.update(overrides)
    return {key: value for key, value in info.items() if value is not None}


def write_file(directory, name, content):
    """Write a file of a test.

    :param directory: where.
    :param name: its name in ``directory``.
    :param content: bytes, or text (written as UTF-8).
    :returns: the file's path.
    """
    if isinstance(content, str):
        content = content.encode('utf-8')
    path = os.path.join(directory, name)
    with open(path, 'wb') as f:
        f.write(content)
    return path
