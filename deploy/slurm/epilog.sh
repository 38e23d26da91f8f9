#!/bin/bash
# syncfs Slurm epilog: after the job, wait until the remote holds every
# byte the job wrote into its syncfs directory, then unmount. Runs as root
# from slurmd (Epilog=), whatever the job's exit status. See docs/slurm.md.
#
# All shipped: unmount, remove the local copy (SYNCFS_CLEANUP=yes), exit 0.
# The daemon died: unmount (detach) and ship its journal with `syncfs
# recover`. Not all shipped (upload failed or timed out, recover failed):
# unmount, keep the backing and state dirs for `syncfs recover`, say so in
# one line, and exit 0, or 1 with SYNCFS_ON_UPLOAD_FAILURE=drain (slurmd
# drains the node on a failed epilog, so an administrator looks). It never
# deletes anything that is not in the remote.
# shellcheck source-path=SCRIPTDIR
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umask 022
ROLE=epilog
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" || {
	echo "syncfs-epilog: job ${SLURM_JOB_ID:-?}: cannot read lib.sh beside $0" >&2
	exit 1
}

# kept WHY: the results are not all in the remote; keep them and say how
# to ship them.
kept() {
	local cmd="syncfs recover --state $STATE --backing $BACKING --remote $REMOTE" x
	for x in "${EXCLUDES[@]}"; do
		cmd+=" --exclude $(printf %q "$x")"
	done
	say "results NOT all shipped: $1. Kept $DATA; ship it with: $cmd"
	if [[ $SYNCFS_ON_UPLOAD_FAILURE == drain ]]; then
		exit 1
	fi
	exit 0
}

main() {
	# Without the site file the epilog cannot know where a job's data is:
	# fail, which drains the node, rather than pass over it.
	load_conf || exit 1
	if [[ ! -f $DATA/job.env ]]; then
		# Not mounted for this job: it opted out, or the prolog failed
		# and undid its work.
		if mounted "$MNT"; then
			say "$MNT is mounted but $DATA/job.env is missing; left as it is"
			[[ $SYNCFS_ON_UPLOAD_FAILURE == drain ]] && exit 1
		fi
		exit 0
	fi
	# shellcheck disable=SC2034 # job.env sets them all
	local JOB JOB_USER RUN BACKING STATE REMOTE EXCLUDES=()
	# shellcheck source=/dev/null
	. "$DATA/job.env" || {
		say "cannot read $DATA/job.env"
		exit 1
	}
	local start=$SECONDS why='' dead='' recovered=''
	local pid
	pid=$(cat "$STATE/pid" 2>/dev/null)
	if [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then
		dead="the syncfs daemon (pid $pid) died during the job; see $STATE/syncfs.log"
	elif mounted "$MNT"; then
		syncfs_call "$(add_duration "$SYNCFS_FLUSH_TIMEOUT" 30)" flush --wait --verify --timeout "$SYNCFS_FLUSH_TIMEOUT" "$MNT"
		case $RC in
		0) ;;
		3) why="upload timed out after $SYNCFS_FLUSH_TIMEOUT: $(last_line "$OUT")" ;;
		5) dead="the syncfs daemon died during the job; see $STATE/syncfs.log" ;;
		124 | 137) why="syncfs flush did not return within $SYNCFS_FLUSH_TIMEOUT and was killed" ;;
		*) why="upload failed (syncfs flush exit $RC): $(last_line "$OUT")" ;;
		esac
		if [[ -z $why && -z $dead && $SYNCFS_PUBLISH == yes ]]; then
			syncfs_call "$SYNCFS_PUBLISH_TIMEOUT" publish "$MNT"
			if ((RC == 0)); then
				say "$(last_line "$OUT")"
			else
				# The deltas are complete: not an upload failure.
				say "publish failed (syncfs publish exit $RC): $(last_line "$OUT"); the remote's deltas are complete"
			fi
		fi
	else
		dead="$MNT was not mounted when the job ended (did the syncfs daemon die? see $STATE/syncfs.log)"
	fi
	# Unmount whatever happened: the journal keeps what is pending, and a
	# mount whose daemon died is detached.
	syncfs_call "$SYNCFS_UNMOUNT_TIMEOUT" unmount "$MNT"
	if ((RC != 0)) || mounted "$MNT"; then
		why=${why:+$why; }"cannot unmount $MNT (syncfs exit $RC): $(last_line "$OUT")"
	else
		rmdir "$MNT" 2>/dev/null
	fi
	if [[ -n $dead && -z $why ]]; then
		# The daemon is gone but its journal and backing dir are here:
		# ship them without a mount (files it had open are compared
		# block by block with the remote).
		local args=(recover --state "$STATE" --backing "$BACKING" --remote "$REMOTE" --timeout "$SYNCFS_FLUSH_TIMEOUT") x
		for x in "${EXCLUDES[@]}"; do
			args+=(--exclude "$x")
		done
		syncfs_call "$(add_duration "$SYNCFS_FLUSH_TIMEOUT" 30)" "${args[@]}"
		case $RC in
		0) recovered="; $dead, recovered its journal" ;;
		*) why="$dead; syncfs recover exit $RC: $(last_line "$OUT")" ;;
		esac
	fi
	[[ -z $why ]] || kept "$why"

	local done_="shipped to $REMOTE and unmounted in $((SECONDS - start))s (job exit ${SLURM_JOB_EXIT_CODE2:-?})$recovered"
	if [[ $SYNCFS_CLEANUP == yes ]]; then
		rm -rf --one-file-system "$DATA"
		done_+="; removed the local copy"
	fi
	note "$done_"
	exit 0
}

main "$@"
