#!/bin/bash
# Settings of the tpm-emulator element (test nodes only; see README.rst).

# The TCP ports of the software TPM (commands, control) on 127.0.0.1.
export DIB_TPM_EMULATOR_PORT=${DIB_TPM_EMULATOR_PORT:-2321}
export DIB_TPM_EMULATOR_CTRL_PORT=${DIB_TPM_EMULATOR_CTRL_PORT:-2322}
