#!/bin/bash
# The batch job of the Slurm test, run as the test user.
#
#   job.sh solver FAKESOLVER [ARGS...]  solver output (and an excluded
#                                       scratch.tmp) into $SYNCFS_DIR
#   job.sh hello                        hello.txt into $SYNCFS_DIR
#   job.sh wait DIR                     hello.txt, then DIR/ready-JOBID, then
#                                       wait (60s at most) for DIR/go-JOBID
#   job.sh off                          only report $SYNCFS_DIR
#
# It prints SYNCFS_DIR (set by the TaskProlog) and the file system type
# of its directory, which the test checks.
set -u
echo "SYNCFS_DIR=${SYNCFS_DIR-unset}"
mode=$1
shift
[[ $mode == off ]] && exit 0
cd "${SYNCFS_DIR:?no syncfs directory}" || exit 1
echo "fstype=$(findmnt -n -o FSTYPE --mountpoint "$PWD")"
case $mode in
solver)
	echo scratch >scratch.tmp
	exec "$@" -dir .
	;;
hello)
	echo "hello from job $SLURM_JOB_ID" >hello.txt
	;;
wait)
	echo "hello from job $SLURM_JOB_ID" >hello.txt
	touch "$1/ready-$SLURM_JOB_ID"
	for ((i = 0; i < 600; i++)); do
		[[ -e $1/go-$SLURM_JOB_ID ]] && break
		sleep 0.1
	done
	;;
esac
