#!/bin/bash
# Build-time settings of the ironic-keylime-agent element (see README.rst).

# The registrar the agent registers with until the conductor configures
# it (keylime.configure_agent, before each attestation).
export DIB_KEYLIME_AGENT_REGISTRAR_IP=${DIB_KEYLIME_AGENT_REGISTRAR_IP:-127.0.0.1}
export DIB_KEYLIME_AGENT_REGISTRAR_PORT=${DIB_KEYLIME_AGENT_REGISTRAR_PORT:-8890}
# The port the agent listens on (all addresses of the ramdisk).
export DIB_KEYLIME_AGENT_PORT=${DIB_KEYLIME_AGENT_PORT:-9002}
# Where the agent's UUID comes from: "node" (the conductor gives it, the
# node's UUID by default), or one of the agent's own modes: "hash_ek",
# "generate", "dmidecode", "hostname", or a fixed UUID.
export DIB_KEYLIME_AGENT_UUID_MODE=${DIB_KEYLIME_AGENT_UUID_MODE:-node}
# The verifier's CA certificate (cv_ca/cacert.crt), a file on the build
# host: the agent accepts the verifier and tenant signed by it (mTLS).
export DIB_KEYLIME_AGENT_CA_CERT=${DIB_KEYLIME_AGENT_CA_CERT:-}
# A keylime_agent binary on the build host, for distributions without a
# package. Empty: the distribution's package.
export DIB_KEYLIME_AGENT_BINARY=${DIB_KEYLIME_AGENT_BINARY:-}
# TEST ONLY, NOT FOR PRODUCTION: a Keylime Python agent version from PyPI
# (6.6.0, the last one; Keylime 7 has none) instead of the Rust agent, for
# distributions without a Rust agent package (Debian): what ironic-keylime's
# own virtual-machine tests use (tools/vm). Empty: not used.
export DIB_KEYLIME_AGENT_PYTHON_TEST_ONLY=${DIB_KEYLIME_AGENT_PYTHON_TEST_ONLY:-}
# ironic-keylime, installed into ironic-python-agent's environment for the
# keylime extension: a source directory, a wheel or an sdist on the build
# host. Required: the build stops without it (nothing is installed from a
# package index by name).
export DIB_IRONIC_KEYLIME_SOURCE=${DIB_IRONIC_KEYLIME_SOURCE:-}
# The IMA hash algorithm of the nodes (length of the allowlist digests).
export DIB_KEYLIME_AGENT_IMA_HASH=${DIB_KEYLIME_AGENT_IMA_HASH:-sha256}
# A file of extra excludelist lines (regular expressions).
export DIB_KEYLIME_AGENT_EXCLUDELIST=${DIB_KEYLIME_AGENT_EXCLUDELIST:-}
# Where the lists go; empty: "<image name>.keylime" next to the image.
export DIB_KEYLIME_AGENT_LISTS_DIR=${DIB_KEYLIME_AGENT_LISTS_DIR:-}

if [ -n "$DIB_KEYLIME_AGENT_PYTHON_TEST_ONLY" ]; then
    export DIB_KEYLIME_AGENT_INSTALL=python-test-only
elif [ -n "$DIB_KEYLIME_AGENT_BINARY" ]; then
    export DIB_KEYLIME_AGENT_INSTALL=binary
else
    case "${DISTRO_NAME:-}" in
        fedora|centos|rhel|rocky|almalinux)
            export DIB_KEYLIME_AGENT_INSTALL=package
            ;;
        *)
            export DIB_KEYLIME_AGENT_INSTALL=none
            ;;
    esac
fi
