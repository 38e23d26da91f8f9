#!/bin/bash
# syncfs Slurm prolog: mount a syncfs directory for the job on node-local
# scratch before the job starts. Runs as root from slurmd (Prolog=, with
# PrologFlags=Alloc). See docs/slurm.md.
#
# Exit 0: the job's directory SCRATCH/JOBID is a syncfs mount the job user
# can write, or the job opted out. Exit 1: it could not be made; slurmd
# then requeues the job held and drains the node, and its log shows the
# one line below saying why. A job never runs with a plain directory
# where its results should be shipped from.
# Placeholders like ${SLURM_JOB_ID} appear in single quotes on purpose:
# shellcheck disable=SC2016
# shellcheck source-path=SCRIPTDIR
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
umask 022
ROLE=prolog
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" || {
	echo "syncfs-prolog: job ${SLURM_JOB_ID:-?}: cannot read lib.sh beside $0" >&2
	exit 1
}

created_data=0 # this run made DATA
tried_mount=0  # this run ran syncfs mount

# fail MESSAGE: say why, undo what this prolog did, and fail the job.
fail() {
	say "$*"
	undo
	exit 1
}

# undo: unmount and remove what this run of the prolog made. Nothing of
# the job's is in it: the job has not started.
undo() {
	if ((tried_mount)) && mounted "$MNT"; then
		syncfs_call "$SYNCFS_UNMOUNT_TIMEOUT" unmount "$MNT"
		if mounted "$MNT"; then
			say "could not undo the mount of $MNT (exit $RC: $(last_line "$OUT")); left it and $DATA in place"
			return
		fi
	fi
	rmdir "$MNT" 2>/dev/null
	if ((created_data)); then
		rm -rf --one-file-system "$DATA"
	fi
}

# job_words: the words of the job's --comment, space-separated and with
# a space at each end, in JOB_WORDS.
job_words() {
	local comment
	if [[ -v SLURM_JOB_COMMENT ]]; then
		comment=$SLURM_JOB_COMMENT
	elif ! comment=$(timeout --kill-after=5s 30s scontrol show job "$SLURM_JOB_ID" 2>&1); then
		say "scontrol show job failed, so the job's --comment is unknown; taking SYNCFS_MODE=$SYNCFS_MODE: $(last_line "$comment")"
		comment=
	else
		comment=$(sed -n 's/^ *Comment=//p' <<<"$comment")
	fi
	JOB_WORDS=" ${comment//[,;]/ } "
}

# opted_out: whether this job goes without syncfs. The job's --comment
# says syncfs:off (or, with SYNCFS_MODE=opt-in, lacks syncfs:on).
opted_out() {
	if [[ $JOB_WORDS == *" syncfs:off "* ]]; then
		return 0
	fi
	[[ $SYNCFS_MODE == opt-in && $JOB_WORDS != *" syncfs:on "* ]]
}

# expand TEMPLATE: the remote URL for this job, placeholders filled in.
expand() {
	local s=$1 name val
	for name in SLURM_JOB_ID SLURM_JOB_USER SLURM_JOB_UID SLURM_JOB_GID SLURM_CLUSTER_NAME \
		SLURMD_NODENAME SLURM_JOB_PARTITION SYNCFS_RUN; do
		[[ $s == *"\${$name}"* ]] || continue
		val=${!name:-}
		if [[ ! $val =~ ^[A-Za-z0-9_][A-Za-z0-9._-]*$ ]]; then
			say "SYNCFS_REMOTE uses \${$name}, which is '$val' here: not usable in a URL"
			return 1
		fi
		s=${s//"\${$name}"/"$val"}
	done
	if [[ $s == *'${'* ]]; then
		say "SYNCFS_REMOTE has a placeholder the prolog does not know: $s"
		return 1
	fi
	printf '%s\n' "$s"
}

# make_file_remote URL TEMPLATE: for a file:// remote, create the job's
# directories below the template's fixed part, which must exist already
# (a results file system that is not mounted must fail the job, not fill
# the node's root disk).
make_file_remote() {
	local url=$1 template=$2
	[[ $url == file://* ]] || return 0
	local path=${url#file://} fixed=${template#file://}
	[[ $fixed == *'${'* ]] || return 0
	fixed=${fixed%%'${'*}
	fixed=${fixed%/*}
	[[ -d ${fixed:-/} ]] || return 0 # the mount fails and says so
	mkdir -p "$path" 2>/dev/null || true
}

main() {
	load_conf || exit 1
	job_words
	if opted_out; then
		note "not mounting syncfs: the job's --comment opts out (SYNCFS_MODE=$SYNCFS_MODE)"
		exit 0
	fi
	if [[ ! ${SLURM_JOB_UID:-} =~ ^[0-9]+$ || ! ${SLURM_JOB_GID:-} =~ ^[0-9]+$ || -z ${SLURM_JOB_USER:-} ]]; then
		say "SLURM_JOB_UID, SLURM_JOB_GID or SLURM_JOB_USER missing; is this run by slurmd?"
		exit 1
	fi
	if [[ -z $SYNCFS_REMOTE ]]; then
		say "SYNCFS_REMOTE is not set in $SYNCFS_SLURM_CONF"
		exit 1
	fi
	local template=${SYNCFS_REMOTE%/}
	# The nodes of a multi-node job each mount; each needs its own prefix.
	if ((${SLURM_JOB_NUM_NODES:-1} > 1)) && [[ $template != *'${SLURMD_NODENAME}'* ]]; then
		template=$template/'${SLURMD_NODENAME}'
	fi
	local remote
	remote=$(expand "$template") || exit 1

	# Scratch and its private part must be root's and closed to others,
	# or a user could plant symlinks where root creates files.
	if ! install -d -m 0755 "$SYNCFS_SCRATCH" || ! install -d -m 0700 "$SYNCFS_SCRATCH/.syncfs"; then
		say "cannot create $SYNCFS_SCRATCH/.syncfs"
		exit 1
	fi
	local d
	for d in "$SYNCFS_SCRATCH" "$SYNCFS_SCRATCH/.syncfs"; do
		if [[ -L $d || $(stat -c %u "$d") != 0 || $(($(stat -c %#a "$d") & 8#022)) != 0 ]]; then
			say "$d must be a directory owned by root and writable by nobody else"
			exit 1
		fi
	done
	if mounted "$MNT"; then
		say "$MNT is still mounted (by an earlier run of this job whose epilog did not finish?); see syncfs status $MNT"
		exit 1
	fi
	if [[ -e $DATA ]]; then
		say "$DATA already exists (kept from an earlier job with this ID? ship it with syncfs recover, then remove it)"
		exit 1
	fi
	mkdir -m 0700 "$DATA" || {
		say "cannot create $DATA"
		exit 1
	}
	created_data=1
	local backing=$DATA/backing state=$DATA/state x
	mkdir -m 0700 "$backing" "$state" || fail "cannot create $backing and $state"
	chown "$SLURM_JOB_UID:$SLURM_JOB_GID" "$backing" || fail "cannot chown $backing to $SLURM_JOB_UID:$SLURM_JOB_GID"
	if [[ -e $MNT || -L $MNT ]]; then
		# Left by an earlier run of this job: reuse it if it is an empty
		# directory (syncfs mount checks that it is empty and not mounted).
		[[ -d $MNT && ! -L $MNT ]] || fail "$MNT exists and is not a directory"
	else
		mkdir -m 0755 "$MNT" || fail "cannot create $MNT"
	fi
	if ! { chown 0:0 "$MNT" && chmod 0755 "$MNT"; }; then
		fail "cannot make $MNT root's"
	fi
	{
		printf '# written by the syncfs prolog for the epilog and for syncfs recover\n'
		printf 'JOB=%q\nJOB_USER=%q\nRUN=%q\n' "$SLURM_JOB_ID" "$SLURM_JOB_USER" "$SYNCFS_RUN"
		printf 'MNT=%q\nBACKING=%q\nSTATE=%q\nREMOTE=%q\n' "$MNT" "$backing" "$state" "$remote"
		printf 'EXCLUDES=('
		for x in "${SYNCFS_EXCLUDES[@]}"; do
			printf ' %q' "$x"
		done
		printf ' )\n'
	} >"$DATA/job.env" || fail "cannot write $DATA/job.env"
	make_file_remote "$remote" "$template"

	local args=(mount --backing "$backing" --state "$state" --remote "$remote")
	for x in "${SYNCFS_EXCLUDES[@]}"; do
		args+=(--exclude "$x")
	done
	# syncfs:direct: the job writes large blocks and asks for them to go
	# straight to the backing file (docs/slurm.md).
	if [[ $JOB_WORDS == *" syncfs:direct "* ]]; then
		args+=(--direct-writes)
		note "mounting $MNT with --direct-writes: the job's --comment asks for syncfs:direct"
	fi
	args+=("${SYNCFS_MOUNT_OPTIONS[@]}" -- "$MNT")
	# Credentials (AWS_*) reach the daemon through its environment only.
	if [[ -n $SYNCFS_ENV_FILE ]]; then
		[[ -r $SYNCFS_ENV_FILE ]] || fail "cannot read SYNCFS_ENV_FILE=$SYNCFS_ENV_FILE"
		set -a
		# shellcheck disable=SC1090
		. "$SYNCFS_ENV_FILE" || fail "SYNCFS_ENV_FILE=$SYNCFS_ENV_FILE failed"
		set +a
	fi
	# syncfs mount returns once the mount is ready; its daemon runs in its
	# own session with stdio on STATE/syncfs.log, so slurmd does not wait
	# for it and does not kill it when this script exits.
	tried_mount=1
	syncfs_call "$SYNCFS_MOUNT_TIMEOUT" "${args[@]}"
	if ((RC == 124 || RC == 137)); then
		fail "syncfs mount $MNT did not finish within $SYNCFS_MOUNT_TIMEOUT (remote $remote; log $state/syncfs.log)"
	elif ((RC != 0)); then
		fail "cannot mount $MNT (syncfs exit $RC): $(last_line "$OUT")"
	fi
	mounted "$MNT" || fail "syncfs mount said yes but $MNT is not mounted"
	if ! setpriv --reuid="$SLURM_JOB_UID" --regid="$SLURM_JOB_GID" --clear-groups test -w "$MNT"; then
		fail "$MNT is mounted but user $SLURM_JOB_USER cannot write it"
	fi
	note "mounted $MNT for $SLURM_JOB_USER, shipping to $remote (state $state)"
	exit 0
}

main "$@"
