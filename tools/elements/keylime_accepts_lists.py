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

"""Does Keylime accept the lists of the ironic-keylime-agent element?

Run with the Python of a Keylime 7 virtualenv (it imports keylime)::

    $VENV/bin/python tools/elements/keylime_accepts_lists.py \
        --lists DIR --root TREE --workdir TMP --sample /usr/bin/ls

Checks, with Keylime's own code:

1. ``keylime_convert_runtime_policy -a allowlist -e excludelist`` and
   ``keylime-policy create runtime -a allowlist -e excludelist`` both
   turn the lists into a runtime policy that
   ``keylime.ima.ima.validate_runtime_policy`` accepts;
2. the verifier's IMA code (``keylime.ima.ima.process_measurement_list``)
   passes an ima-ng measurement list of files of the tree (the
   ``boot_aggregate`` entry included, zeros of sha256 length), passes a
   measurement of an excluded path, and fails a file whose content
   differs from the image.

Prints one JSON line of results; exits 0 when every check holds.
"""

import argparse
import hashlib
import json
import os
import re
import struct
import subprocess
import sys


def ima_ng_line(path, digest_hex, algo='sha256'):
    """An ima-ng line of the ASCII measurement list (right template hash)."""
    d = ('%s:' % algo).encode() + b'\0' + bytes.fromhex(digest_hex)
    n = path.encode() + b'\0'
    data = struct.pack('<I', len(d)) + d + struct.pack('<I', len(n)) + n
    template_hash = hashlib.sha1(data).hexdigest()
    return '10 %s ima-ng %s:%s %s' % (template_hash, algo, digest_hex, path)


def run(argv, env):
    proc = subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, env=env, check=False)
    return proc.returncode, proc.stdout.decode('utf-8', 'replace')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--lists', required=True)
    parser.add_argument('--root', required=True)
    parser.add_argument('--workdir', required=True)
    parser.add_argument('--sample', action='append', default=[],
                        help='a path in the image to measure (repeatable)')
    args = parser.parse_args()

    from keylime.common import algorithms
    from keylime.ima import ima

    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ)
    allowlist = os.path.join(args.lists, 'allowlist')
    excludelist = os.path.join(args.lists, 'excludelist')
    results = {}
    ok = True

    policies = {}
    out1 = os.path.join(args.workdir, 'converted.json')
    rc, text = run([os.path.join(bindir, 'keylime_convert_runtime_policy'),
                    '-a', allowlist, '-e', excludelist, '-o', out1], env)
    results['keylime_convert_runtime_policy'] = {'rc': rc,
                                                 'output': text[-500:]}
    if rc == 0 and os.path.exists(out1):
        with open(out1) as f:
            policies['keylime_convert_runtime_policy'] = json.load(f)
    else:
        ok = False
    out2 = os.path.join(args.workdir, 'created.json')
    rc, text = run([os.path.join(bindir, 'keylime-policy'), 'create',
                    'runtime', '-a', allowlist, '-e', excludelist,
                    '-o', out2], env)
    results['keylime-policy'] = {'rc': rc, 'output': text[-500:]}
    if rc == 0 and os.path.exists(out2):
        with open(out2) as f:
            policies['keylime-policy'] = json.load(f)
    else:
        ok = False

    zeros = '0' * 64
    good = [ima_ng_line('boot_aggregate', zeros)]
    for path in args.sample:
        with open(os.path.join(args.root, path.lstrip('/')), 'rb') as f:
            good.append(ima_ng_line(path.replace(' ', '_'),
                                    hashlib.sha256(f.read()).hexdigest()))
    excluded = good + [ima_ng_line('/proc/self/fake', 'ab' * 32)]
    tampered = good + [ima_ng_line(args.sample[0], 'cd' * 32)]

    for name, policy in policies.items():
        entry = results[name]
        try:
            ima.validate_runtime_policy(policy)
            entry['valid'] = True
        except Exception as e:
            entry['valid'] = False
            entry['error'] = str(e)
            ok = False
            continue
        entry['digests'] = len(policy['digests'])
        entry['boot_aggregate'] = policy['digests'].get('boot_aggregate')
        entry['excludes'] = policy['excludes']
        for expr in policy['excludes']:
            try:
                re.compile(expr)
            except re.error as e:
                entry['error'] = 'bad exclude %r: %s' % (expr, e)
                ok = False
            if expr.startswith('#'):
                entry['error'] = 'a comment became an exclude: %r' % expr
                ok = False
        for case, lines, want_pass in (('measured', good, True),
                                       ('excluded', excluded, True),
                                       ('tampered', tampered, False)):
            _hash, failure = ima.process_measurement_list(
                None, lines, policy, hash_alg=algorithms.Hash.SHA256)
            passed = not failure
            entry[case] = 'PASS' if passed else 'FAIL'
            if passed != want_pass:
                ok = False
    results['ok'] = ok
    print(json.dumps(results))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
