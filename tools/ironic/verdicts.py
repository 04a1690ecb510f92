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

"""Print the attestation verdicts of a node history, oldest first.

Reads ``baremetal node history list NODE --long -f json`` on stdin and
prints ``SEVERITY [PROVISION STATE] EVENT`` per attestation verdict: the
events of type ``attestation`` (a PASS, or a FAIL that did not fail the
operation) and the failures of an operation caused by a Keylime verdict
(recorded by Ironic's error handler under the operation's event type),
and the enrollments of golden boot states; SHA-256 digests are shortened.
"""

import json
import re
import sys

#: A SHA-256 digest, shortened for the screen to its first 8 hex digits.
_DIGEST = re.compile(r'\b([0-9a-f]{8})[0-9a-f]{56}\b')


def main():
    events = sorted(json.load(sys.stdin), key=lambda e: e['created_at'])
    for event in events:
        if (event['event_type'] == 'attestation'
                or 'Keylime attestation' in (event['event'] or '')):
            print('%s [%s] %s' % (event['severity'], event.get('state'),
                                  _DIGEST.sub(r'\1...', event['event'])))


if __name__ == '__main__':
    main()
