#!/bin/bash
# syncfs Slurm TaskProlog: tell each task where its syncfs directory is.
# Runs as the job user before every task (TaskProlog=); slurmd adds each
# `export NAME=value` line it prints to the task's environment, which a
# root prolog cannot do. Prints nothing when the job has no syncfs mount,
# so a job script that does `cd "${SYNCFS_DIR:?}"` stops there instead of
# writing its results into a plain directory. Always exits 0.
# shellcheck source-path=SCRIPTDIR
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ROLE=task-prolog
SYNCFS_LOG= # the job user cannot write the site log
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" 2>/dev/null || exit 0
load_conf 2>/dev/null || exit 0
if mounted "$MNT"; then
	echo "export SYNCFS_DIR=$MNT"
fi
exit 0
