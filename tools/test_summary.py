"""Print one closing line for the stestr runs of tox: N passed, N failed.

The unit tests keep their stestr repository in ./.stestr, the
functional tests theirs in .stestr-functional/.stestr and, for the
virtual-machine tests that tools/functional.sh runs as a second stream
with the whole suite, .stestr-vm/.stestr; this reads the totals of the
last run of each (``stestr last``) and prints their sum, so that a reader
of CI's output sees at a glance how many tests ran, and, above it, the id
of each test that failed (``stestr failing --list``): the end of a long
run's output is often all a reader of CI has.
"""

import os
import re
import subprocess
import sys

_TOTAL_RE = re.compile(r'^ - (Passed|Failed|Skipped): (\d+)$', re.MULTILINE)


def _stestr(top, repo, *args):
    """Run stestr on the repository ``repo``; its output, or None."""
    for env_name in ('py3', 'functional'):
        stestr = os.path.join(top, '.tox', env_name, 'bin', 'stestr')
        if os.path.exists(stestr):
            break
    else:
        return None
    if not os.path.isdir(os.path.join(top, repo, '.stestr')):
        return None
    return subprocess.run([stestr, '--repo-url', repo] + list(args),
                          cwd=top, capture_output=True)


def failing_tests(top, repo):
    """The ids of the tests that failed in the last run of ``repo``."""
    proc = _stestr(top, repo, 'failing', '--list')
    if proc is None:
        return []
    return [line for line in proc.stdout.decode('utf-8',
                                                'replace').splitlines()
            if line.strip()]


def last_run_counts(top, repo):
    proc = _stestr(top, repo, 'last')
    if proc is None:
        return None
    totals = {'Passed': 0, 'Failed': 0, 'Skipped': 0}
    for name, count in _TOTAL_RE.findall(
            proc.stdout.decode('utf-8', 'replace')):
        totals[name] = int(count)
    return totals['Passed'], totals['Failed'], totals['Skipped']


def main():
    top = sys.argv[1]
    totals = [0, 0, 0]
    for repo in ('.', '.stestr-functional', '.stestr-vm'):
        for test_id in failing_tests(top, repo):
            print('failed: %s' % test_id)
        counts = last_run_counts(top, repo)
        if counts:
            totals = [a + b for a, b in zip(totals, counts)]
    print('tests: %d passed, %d failed, %d skipped' % tuple(totals))


if __name__ == '__main__':
    main()
