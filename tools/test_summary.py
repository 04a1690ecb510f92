"""Print one closing line for the stestr runs of tox: N passed, N failed.

The unit tests keep their stestr repository in ./.stestr, the
functional tests theirs in .stestr-functional/.stestr and, for the
virtual-machine tests that tools/functional.sh runs as a second stream
with the whole suite, .stestr-vm/.stestr; this reads the totals of the
last run of each (``stestr last``) and prints their sum, so that a reader
of CI's output sees at a glance how many tests ran.
"""

import os
import re
import subprocess
import sys

_TOTAL_RE = re.compile(r'^ - (Passed|Failed|Skipped): (\d+)$', re.MULTILINE)


def last_run_counts(top, repo):
    for env_name in ('py3', 'functional'):
        stestr = os.path.join(top, '.tox', env_name, 'bin', 'stestr')
        if os.path.exists(stestr):
            break
    else:
        return None
    if not os.path.isdir(os.path.join(top, repo, '.stestr')):
        return None
    proc = subprocess.run([stestr, '--repo-url', repo, 'last'], cwd=top,
                          capture_output=True)
    totals = {'Passed': 0, 'Failed': 0, 'Skipped': 0}
    for name, count in _TOTAL_RE.findall(
            proc.stdout.decode('utf-8', 'replace')):
        totals[name] = int(count)
    return totals['Passed'], totals['Failed'], totals['Skipped']


def main():
    top = sys.argv[1]
    totals = [0, 0, 0]
    for repo in ('.', '.stestr-functional', '.stestr-vm'):
        counts = last_run_counts(top, repo)
        if counts:
            totals = [a + b for a, b in zip(totals, counts)]
    print('tests: %d passed, %d failed, %d skipped' % tuple(totals))


if __name__ == '__main__':
    main()
