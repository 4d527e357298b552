#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs one scenario script in dom0 (started by dom0-main.sh with the plan entry's variables
# in the environment). "XNT-REACHED-END" is printed only when the script ran to its last
# line: an `exit` halfway, or the timeout killing it, leaves it out, and the host then
# fails the scenario.
source /xnt/params.sh
source /xnt/xnt-lib.sh
set +e
cd /tmp || exit 1
echo 0 >"$XNT_GUEST_SEQ_FILE"
# shellcheck disable=SC1090
source "$1"
echo "XNT-REACHED-END"
