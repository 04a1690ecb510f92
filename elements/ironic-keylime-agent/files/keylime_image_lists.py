#!/usr/bin/env python3
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

"""Keylime lists of an image, from the image's own tree.

Run by the ironic-keylime-agent element on the build host (cleanup.d,
outside the chroot) on the finished tree of the ramdisk, and usable by
hand::

    keylime_image_lists.py --root /path/to/tree --output-dir OUT

writes into OUT:

``allowlist``
    Keylime's flat allowlist: ``<hex digest> <path>`` per regular file of
    the tree, paths as the running ramdisk sees them (the tree is its
    root file system), spaces replaced by ``_`` as IMA does in its log;
    first line ``<zeros> boot_aggregate`` with as many zeros as the
    digest has hex digits (Keylime issue 702: a sha1-sized line does not
    match a sha256 log).
``allowlist_checksum``
    ``sha256sum`` format: ``<sha256 of allowlist>  allowlist``.
``excludelist``
    The default exclude list (regular expressions) plus the lines of
    ``--extra-excludelist`` (its comment lines dropped).
``excludelist_checksum``
    ``sha256sum`` format: ``<sha256 of excludelist>  excludelist``
    (the conductor requires it by default,
    ``[keylime]require_excludelist_checksum``).

Names match the Swift objects ``ironic-keylime-lists upload`` publishes.
Standard library only: the build host need not have ironic-keylime.
"""

import argparse
import hashlib
import os
import stat
import sys

ALGORITHMS = ('sha1', 'sha256', 'sha384', 'sha512')

#: Directories of the tree not hashed: pseudo and volatile file systems
#: at run time (the IMA policy of the element does not measure the pseudo
#: ones), and build leftovers.
DEFAULT_SKIP = ('proc', 'sys', 'dev', 'run', 'tmp', 'var/tmp', 'var/log',
                'var/cache')

#: The default exclude list: one Python regular expression per line,
#: matched at the start of the path of each IMA measurement; a match is
#: not checked against the allowlist. Keep it short: whatever runs from an
#: excluded path goes unnoticed. The element's IMA policy does not measure
#: these pseudo file systems; the lines only make that explicit. No
#: comment lines: ``keylime-policy create runtime -e`` (7.14) keeps them
#: as expressions.
DEFAULT_EXCLUDES = '''\
/proc/.*
/sys/.*
/dev/.*
'''


def digest_file(path, algo):
    h = hashlib.new(algo)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1024 * 1024), b''):
            h.update(block)
    return h.hexdigest()


def iter_files(root, skip):
    """Regular files of the tree, not following symbolic links.

    :yields: (path in the image, path on the build host), sorted.
    """
    skip = {s.strip('/') for s in skip if s.strip('/')}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = '' if rel_dir == '.' else rel_dir
        dirnames[:] = sorted(
            d for d in dirnames
            if os.path.join(rel_dir, d) not in skip)
        for name in sorted(filenames):
            host_path = os.path.join(dirpath, name)
            try:
                mode = os.lstat(host_path).st_mode
            except OSError:
                continue
            if not stat.S_ISREG(mode):
                continue
            yield '/' + os.path.join(rel_dir, name), host_path


def allowlist_lines(root, algo='sha256', skip=DEFAULT_SKIP, warn=None):
    """The lines of the allowlist, boot_aggregate first.

    :param root: the image's tree.
    :param algo: the digest algorithm (the IMA hash of the nodes).
    :param skip: directories of the tree, relative to it, not hashed.
    :param warn: a callable for warnings (files skipped).
    """
    size = hashlib.new(algo).digest_size * 2
    yield '%s boot_aggregate' % ('0' * size)
    for image_path, host_path in iter_files(root, skip):
        if '\n' in image_path or '\r' in image_path:
            if warn:
                warn('skipped (new line in its name): %r' % image_path)
            continue
        try:
            digest = digest_file(host_path, algo)
        except OSError as e:
            if warn:
                warn('skipped (unreadable): %s: %s' % (image_path, e))
            continue
        yield '%s %s' % (digest, image_path.replace(' ', '_'))


def write_lists(root, output_dir, algo='sha256', skip=DEFAULT_SKIP,
                extra_excludes=None, warn=None):
    """Write allowlist and excludelist with their checksums.

    :returns: the number of files in the allowlist.
    """
    os.makedirs(output_dir, exist_ok=True)
    allowlist = os.path.join(output_dir, 'allowlist')
    count = -1
    with open(allowlist + '.tmp', 'w', encoding='utf-8',
              errors='surrogateescape') as f:
        for line in allowlist_lines(root, algo, skip, warn):
            f.write(line + '\n')
            count += 1
    os.rename(allowlist + '.tmp', allowlist)
    excludelist = os.path.join(output_dir, 'excludelist')
    with open(excludelist, 'w') as f:
        f.write(DEFAULT_EXCLUDES)
        if extra_excludes:
            with open(extra_excludes) as extra:
                for line in extra:
                    if line.strip() and not line.lstrip().startswith('#'):
                        f.write(line.strip() + '\n')
    for name in ('allowlist', 'excludelist'):
        with open(os.path.join(output_dir, name + '_checksum'), 'w') as f:
            f.write('%s  %s\n' % (digest_file(os.path.join(output_dir, name),
                                              'sha256'), name))
    return count


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', required=True,
                        help='the image\'s tree')
    parser.add_argument('--output-dir', required=True)
    parser.add_argument('--algo', default='sha256', choices=ALGORITHMS,
                        help='IMA hash algorithm of the nodes')
    parser.add_argument('--skip', action='append', default=[],
                        help='a directory of the tree not to hash, relative '
                             'to it (repeatable; added to %s)' %
                             ', '.join(DEFAULT_SKIP))
    parser.add_argument('--extra-excludelist',
                        help='a file of lines added to the excludelist')
    args = parser.parse_args(argv)
    if not os.path.isdir(args.root):
        parser.error('%s is not a directory' % args.root)

    def warn(text):
        print('keylime_image_lists: %s' % text, file=sys.stderr)

    count = write_lists(args.root, args.output_dir, args.algo,
                        DEFAULT_SKIP + tuple(args.skip),
                        args.extra_excludelist, warn)
    print('keylime_image_lists: %d files in %s' %
          (count, os.path.join(args.output_dir, 'allowlist')))
    return 0


if __name__ == '__main__':
    sys.exit(main())
