"""Print one closing line for the stestr runs of tox: N passed, N failed.

The unit tests keep their stestr repository in .stestr, the functional
tests theirs in .stestr-functional; this reads the last run of each and
prints the totals, so that a reader of CI's output sees at a glance how
many tests ran.
"""

import os
import subprocess
import sys


def last_run_counts(top, repo):
    for stestr in (os.path.join(top, '.tox', env_name, 'bin', 'stestr')
                   for env_name in ('py3', 'functional')):
        if os.path.exists(stestr):
            break
    else:
        return None
    if not os.path.isdir(os.path.join(top, repo)):
        return None
    proc = subprocess.run([stestr, '--repo-url', repo, 'last', '--subunit'],
                          cwd=top, capture_output=True)
    if proc.returncode not in (0, 1) or not proc.stdout:
        return None
    conv = os.path.join(os.path.dirname(stestr), 'subunit2csv')
    csv = subprocess.run([conv], input=proc.stdout, capture_output=True)
    passed = failed = skipped = 0
    for line in csv.stdout.decode().splitlines()[1:]:
        fields = line.split(',')
        if len(fields) < 2:
            continue
        status = fields[1]
        if status == 'success':
            passed += 1
        elif status in ('fail', 'uxsuccess'):
            failed += 1
        elif status == 'skip':
            skipped += 1
    return passed, failed, skipped


def main():
    top = sys.argv[1]
    totals = [0, 0, 0]
    for repo in ('.stestr', '.stestr-functional'):
        counts = last_run_counts(top, repo)
        if counts:
            totals = [a + b for a, b in zip(totals, counts)]
    print('tests: %d passed, %d failed, %d skipped' % tuple(totals))


if __name__ == '__main__':
    main()
