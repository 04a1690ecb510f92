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

"""The UEFI event log of an OVMF boot and a stand-in ``keylime-policy``.

The fixtures are real (tests/fixtures/uefi-event-log-ovmf/README.rst);
keylime-policy itself lives in Keylime's virtualenv, not in the unit
tests': the stand-in (:data:`STAND_IN`) copies the policy the real 7.14.3
tool wrote from the same log, or prints the real tool's refusal.
"""

import os

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                        'fixtures', 'uefi-event-log-ovmf')
EVENT_LOG = os.path.join(FIXTURES, 'binary_bios_measurements')
#: The command line of that boot: qemu's ``-append`` of
#: tools/keylime/uefi-event-log.sh, to which OVMF's kernel loader adds
#: `` initrd=initrd``; the EFI stub measured it into PCR 9.
EVENT_LOG_CMDLINE = 'console=ttyS0 panic=-1 initrd=initrd'
POLICY = os.path.join(FIXTURES, 'mb_policy-without-secureboot.json')
REFUSAL = os.path.join(FIXTURES, 'keylime-policy-secureboot.out')

# The stand-in: records its argv and what it was given, then acts as
# the real tool did on this log (refuses without --without-secureboot).
STAND_IN = '''import json, os, shutil, stat, sys
args = sys.argv[1:]
log = args[args.index('-e') + 1]
out = args[args.index('-o') + 1]
mode = stat.S_IMODE(os.stat(log).st_mode)
with open(%(record)r, 'w') as f:
    json.dump({'argv': sys.argv, 'mode': mode,
               'dir_mode': stat.S_IMODE(os.stat(os.path.dirname(log))
                                        .st_mode),
               'log': open(log, 'rb').read().hex()}, f)
if '--without-secureboot' not in args:
    sys.stdout.write(open(%(refusal)r).read())
    sys.exit(1)
shutil.copy(%(policy)r, out)
'''
