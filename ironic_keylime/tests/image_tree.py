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

"""An image tree for the ironic-keylime-agent element's list generator.

Shared by the unit tests of the generator and the functional test in
which Keylime's own tools judge its output.
"""

import os
import shutil
import sys

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
#: The ironic-keylime-agent element's list generator.
LISTS_SCRIPT = os.path.join(TOP, 'elements', 'ironic-keylime-agent', 'files',
                            'keylime_image_lists.py')


def make_tree(root):
    """A small image tree: real binaries, odd names, things to skip."""
    for d in ('usr/bin', 'usr/lib', 'proc/1', 'run', 'tmp', 'etc',
              'opt/with space', 'var/log'):
        os.makedirs(os.path.join(root, d))
    shutil.copy(sys.executable, os.path.join(root, 'usr/bin/python3'))
    shutil.copy('/bin/sh', os.path.join(root, 'usr/bin/sh'))
    os.symlink('python3', os.path.join(root, 'usr/bin/python'))
    with open(os.path.join(root, 'opt/with space/run me'), 'w') as f:
        f.write('#!/bin/sh\necho hi\n')
    with open(os.path.join(root, 'etc/bad\nname'), 'w') as f:
        f.write('x')
    for skipped in ('proc/1/status', 'run/x', 'tmp/y', 'var/log/z'):
        with open(os.path.join(root, skipped), 'w') as f:
            f.write('volatile')
    os.mkfifo(os.path.join(root, 'etc/fifo'))
