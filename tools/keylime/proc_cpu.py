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

"""CPU seconds of processes, read from ``/proc`` (Linux), for the benchmarks.

One reading of ``/proc/<pid>/stat`` per process; a process that ends
while it is read is skipped (its CPU then shows in its parent's reaped
children once the parent waits for it).
"""

import os

CLK_TCK = os.sysconf('SC_CLK_TCK')


def stats():
    """Every process now: {pid: (ppid, pgrp, own CPU s, children CPU s)}.

    Own is utime + stime; children is cutime + cstime (reaped children).
    """
    found = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        # fields[0] is field 3 (state): ppid 4, pgrp 5, utime 14,
        # stime 15, cutime 16, cstime 17.
        found[int(name)] = (
            int(fields[1]), int(fields[2]),
            (int(fields[11]) + int(fields[12])) / CLK_TCK,
            (int(fields[13]) + int(fields[14])) / CLK_TCK)
    return found


def group_cpu(pgid, found=None):
    """(own, reaped children) CPU seconds of a process group."""
    found = stats() if found is None else found
    members = [s for s in found.values() if s[1] == pgid]
    return sum(s[2] for s in members), sum(s[3] for s in members)


def tree_cpu(pid, found=None):
    """CPU seconds of a process and its descendants, reaped ones too."""
    found = stats() if found is None else found
    pids = {pid}
    while True:
        more = {p for p, s in found.items() if s[0] in pids} - pids
        if not more:
            break
        pids |= more
    return sum(found[p][2] + found[p][3] for p in pids if p in found)
