#!/usr/bin/env bash
# Stop the test cluster started by tests/slurm/start_cluster.sh STATE_DIR: cancel its jobs, then stop
# slurmd, slurmctld (and munged, only if start_cluster.sh started it) by their pid files.
#
#   tests/slurm/stop_cluster.sh STATE_DIR
#
# Safe to run twice or on a half-started cluster; it never kills processes by name.
set -uo pipefail

log() { printf '[slurm-test] %s\n' "$*" >&2; }
if [[ $# -ne 1 ]]; then
  log "usage: $0 STATE_DIR"
  exit 1
fi
state_dir=$1
export SLURM_CONF=$state_dir/slurm.conf

# Stop the daemon whose pid is in $1: TERM, up to 10 s grace, then KILL.
stop_pidfile() {
  local pidfile=$1 pid
  [[ -s $pidfile ]] || return 0
  pid=$(<"$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "pid $pid ($pidfile) ignores TERM; killing"; kill -KILL "$pid"; }
  fi
  rm -f "$pidfile"
}

if [[ -f $SLURM_CONF && -s $state_dir/run/slurmctld.pid ]]; then
  # Jobs' slurmstepd processes outlive slurmd: cancel the jobs and give them a moment to end.
  job_ids=$(squeue -h -o %i 2>/dev/null)
  if [[ -n $job_ids ]]; then
    # shellcheck disable=SC2086
    scancel $job_ids 2>/dev/null
    for _ in $(seq 50); do [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break; sleep 0.2; done
  fi
fi
stop_pidfile "$state_dir/run/slurmd.pid"
stop_pidfile "$state_dir/run/slurmctld.pid"
if [[ -s $state_dir/run/munged.pidfile ]]; then
  stop_pidfile "$(<"$state_dir/run/munged.pidfile")"
  rm -f "$state_dir/run/munged.pidfile"
fi
# slurmd's configless link, when it points into this cluster's state.
if [[ $(readlink /run/slurm/conf 2>/dev/null) == "$state_dir"/* ]]; then rm -f /run/slurm/conf; fi
log "cluster in $state_dir stopped"
