# shellcheck shell=bash source-path=SCRIPTDIR disable=SC2034 # sets variables for its callers
# lib.sh: what prolog.sh, epilog.sh and task-prolog.sh share: the site
# file, logging, and where a job's files live. Sourced, never run; keep it
# out of a Prolog=/etc/slurm/prolog.d/* glob (docs/slurm.md, Install).
#
# Layout on the node (SCRATCH is SYNCFS_SCRATCH, RUN the job ID, or
# ID.N for the Nth requeue of the job):
#
#   SCRATCH/                      root 0755
#   SCRATCH/JOBID                 root 0755 mountpoint; the job's syncfs dir
#   SCRATCH/.syncfs/              root 0700, so nobody reaches the backing
#   SCRATCH/.syncfs/RUN/job.env   what the prolog mounted, for the epilog
#   SCRATCH/.syncfs/RUN/backing/  the job user's 0700: the bytes land here
#   SCRATCH/.syncfs/RUN/state/    root 0700: journal, pid, syncfs.log
#
# The mountpoint is root's on purpose: unmounted, the job user cannot
# write into it, so a job never writes results into a plain directory.
# Mounted, it shows the backing dir, which is the user's.

# ROLE (prolog, epilog, task-prolog) is set by the sourcing script.
ROLE=${ROLE:-syncfs}
SYNCFS_SLURM_CONF=${SYNCFS_SLURM_CONF:-/etc/syncfs/slurm.conf}
SYNCFS_LOG=${SYNCFS_LOG-/var/log/syncfs-slurm.log}

# note MESSAGE: one line to the site log only (what went right).
note() {
	[[ -n $SYNCFS_LOG ]] || return 0
	printf '%s %s syncfs-%s: job %s: %s\n' "$(date -Is)" "${SLURMD_NODENAME:-$(hostname -s)}" \
		"$ROLE" "${SLURM_JOB_ID:-?}" "$*" 2>/dev/null >>"$SYNCFS_LOG" || true
}

# say MESSAGE: one line to stderr, which slurmd writes to its log when the
# script fails, and to the site log, which keeps it when it does not.
say() {
	printf 'syncfs-%s: job %s: %s\n' "$ROLE" "${SLURM_JOB_ID:-?}" "$*" >&2
	note "$*"
}

# last_line TEXT: the last non-empty line of TEXT (a command's message).
last_line() {
	local s=$1
	s=${s%"${s##*[![:space:]]}"}
	printf '%s' "${s##*$'\n'}"
}

# load_conf: read the site file over the defaults and check it.
load_conf() {
	SYNCFS_BIN=/usr/local/bin/syncfs
	SYNCFS_REMOTE=
	SYNCFS_SCRATCH=/var/tmp/syncfs
	SYNCFS_MODE=opt-out
	SYNCFS_EXCLUDES=()
	SYNCFS_MOUNT_OPTIONS=()
	SYNCFS_ENV_FILE=
	SYNCFS_MOUNT_TIMEOUT=60s
	SYNCFS_FLUSH_TIMEOUT=30m
	SYNCFS_UNMOUNT_TIMEOUT=5m
	SYNCFS_PUBLISH=no
	SYNCFS_PUBLISH_TIMEOUT=30m
	SYNCFS_ON_UPLOAD_FAILURE=keep
	SYNCFS_CLEANUP=yes
	if [[ ! -r $SYNCFS_SLURM_CONF ]]; then
		say "cannot read the site file $SYNCFS_SLURM_CONF"
		return 1
	fi
	set +u
	# shellcheck source=syncfs-slurm.conf
	. "$SYNCFS_SLURM_CONF"
	local rc=$?
	set -u
	if ((rc != 0)); then
		say "the site file $SYNCFS_SLURM_CONF failed (exit $rc)"
		return 1
	fi
	local v
	for v in SYNCFS_MOUNT_TIMEOUT SYNCFS_FLUSH_TIMEOUT SYNCFS_UNMOUNT_TIMEOUT SYNCFS_PUBLISH_TIMEOUT; do
		if [[ ! ${!v} =~ ^[1-9][0-9]*[smh]$ ]]; then
			say "$SYNCFS_SLURM_CONF: $v=${!v} is not a duration like 90s, 30m or 2h"
			return 1
		fi
	done
	case $SYNCFS_PUBLISH in yes | no) ;; *)
		say "$SYNCFS_SLURM_CONF: SYNCFS_PUBLISH=$SYNCFS_PUBLISH is not yes or no"
		return 1
		;;
	esac
	case $SYNCFS_MODE in opt-out | opt-in) ;; *)
		say "$SYNCFS_SLURM_CONF: SYNCFS_MODE=$SYNCFS_MODE is neither opt-out nor opt-in"
		return 1
		;;
	esac
	case $SYNCFS_ON_UPLOAD_FAILURE in keep | drain) ;; *)
		say "$SYNCFS_SLURM_CONF: SYNCFS_ON_UPLOAD_FAILURE=$SYNCFS_ON_UPLOAD_FAILURE is neither keep nor drain"
		return 1
		;;
	esac
	case $SYNCFS_CLEANUP in yes | no) ;; *)
		say "$SYNCFS_SLURM_CONF: SYNCFS_CLEANUP=$SYNCFS_CLEANUP is neither yes nor no"
		return 1
		;;
	esac
	if [[ ! $SYNCFS_SCRATCH =~ ^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$ || $SYNCFS_SCRATCH == *..* ]]; then
		say "$SYNCFS_SLURM_CONF: SYNCFS_SCRATCH=$SYNCFS_SCRATCH must be an absolute path of letters, digits and ._-/"
		return 1
	fi
	if [[ $ROLE != task-prolog && ! -x $SYNCFS_BIN ]]; then
		say "$SYNCFS_SLURM_CONF: SYNCFS_BIN=$SYNCFS_BIN is not an executable"
		return 1
	fi
	if [[ ! $SLURM_JOB_ID =~ ^[0-9]+$ ]]; then
		say "SLURM_JOB_ID=$SLURM_JOB_ID is not a job ID"
		return 1
	fi
	local restarts=${SLURM_JOB_RESTART_COUNT:-0}
	[[ $restarts =~ ^[0-9]+$ ]] || restarts=0
	# Each run of a job (a requeue is a new run with the same ID) gets its
	# own local dirs and its own remote prefix: a remote prefix belongs to
	# the journal that first shipped to it.
	SYNCFS_RUN=$SLURM_JOB_ID
	((restarts == 0)) || SYNCFS_RUN=$SLURM_JOB_ID.$restarts
	MNT=$SYNCFS_SCRATCH/$SLURM_JOB_ID
	DATA=$SYNCFS_SCRATCH/.syncfs/$SYNCFS_RUN
	return 0
}

# mounted DIR: whether DIR is a mount point, even one whose daemon died
# (stat fails there with ENOTCONN, so ask the mount table).
mounted() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# syncfs_call SECONDS_OR_DURATION ARGS...: run syncfs with a hard time
# limit; its output goes to OUT, its exit status to RC (124: killed).
syncfs_call() {
	local limit=$1
	shift
	OUT=$(timeout --kill-after=10s "$limit" "$SYNCFS_BIN" "$@" </dev/null 2>&1)
	RC=$?
}

# add_duration D SECONDS: D (like 30m) plus SECONDS, in seconds.
add_duration() {
	local d=$1 n=${1%?}
	case ${d: -1} in
	s) echo $((n + $2)) ;;
	m) echo $((n * 60 + $2)) ;;
	h) echo $((n * 3600 + $2)) ;;
	esac
}
