#!/usr/bin/env bash
# Start a one-node Slurm test cluster on localhost (Debian's Slurm 22.05, run as root, no systemd).
#
#   tests/slurm/start_cluster.sh STATE_DIR
#
# Writes STATE_DIR/slurm.conf and gres.conf (from the templates next to this script) and keeps every
# state, spool, pid and log file under STATE_DIR. slurmd runs configless and, as Slurm does, links its
# copy of the configuration at /run/slurm/conf for commands inside jobs (stop_cluster.sh removes it).
# On success the last line of stdout is `SLURM_CONF=STATE_DIR/slurm.conf`: export it for sbatch,
# squeue and scontrol (and Snakemake) to talk to this cluster. Stop it with tests/slurm/stop_cluster.sh STATE_DIR.
#
# munge: an already working munged (e.g. started by systemd) is reused; otherwise munged is started as
# the munge user with Debian's default paths (a key is created first if there is none), and
# STATE_DIR/run/munged.pidfile records that stop_cluster.sh must stop it again.
#
# Environment: SLURMCTLD_PORT, SLURMD_PORT (default 6817, 6818), SLURM_PARTITION (default `debug`),
# SLURM_NODE_NAME (default `emocue-node`).
# Exit status: 0 started, 2 Slurm/munge binaries missing or not root, 1 anything else.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[slurm-test] %s\n' "$*" >&2; }

if [[ $# -ne 1 ]]; then
  log "usage: $0 STATE_DIR"
  exit 1
fi

missing=()
for tool in munged munge unmunge slurmctld slurmd sbatch squeue scontrol sinfo; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if (( ${#missing[@]} )); then
  log "missing: ${missing[*]} (install: apt-get install munge slurmctld slurmd slurm-client, or bash envs/setup.sh --test)"
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  log "the test cluster must be started as root (slurmd launches the jobs)"
  exit 2
fi

if [[ -e /etc/slurm/slurm.conf ]]; then
  log "/etc/slurm/slurm.conf exists: commands inside test jobs would read it instead of this cluster's"
  exit 1
fi

# Commands inside jobs find the configuration through /run/slurm/conf: one test cluster at a time.
if [[ -e /run/slurm/conf ]]; then
  log "/run/slurm/conf exists ($(readlink /run/slurm/conf)): another cluster runs here; stop it first"
  exit 1
fi

state_dir=$(mkdir -p "$1" && cd "$1" && pwd)
mkdir -p "$state_dir"/{state,spool,run,log}
node_name=${SLURM_NODE_NAME:-emocue-node}
partition=${SLURM_PARTITION:-debug}

# ---- munge --------------------------------------------------------------------------------------
munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
if munge_works; then
  log "reusing the running munged"
else
  munge_key=/etc/munge/munge.key
  if [[ ! -s $munge_key ]]; then
    log "creating munge key $munge_key"
    install -d -o munge -g munge -m 0700 /etc/munge
    runuser -u munge -- mungekey --create --keyfile="$munge_key"
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  runuser -u munge -- munged
  echo /run/munge/munged.pid >"$state_dir/run/munged.pidfile"
  for _ in $(seq 50); do munge_works && break; sleep 0.1; done
  munge_works || { log "munged does not answer; see /var/log/munge/munged.log"; exit 1; }
  log "started munged"
fi

# ---- configuration ------------------------------------------------------------------------------
# The node offers what this machine has, as slurmd reports it.
hardware=$(slurmd -C | head -1)
cpus=$(sed -n 's/.*\bCPUs=\([0-9]*\).*/\1/p' <<<"$hardware")
real_memory=$(sed -n 's/.*\bRealMemory=\([0-9]*\).*/\1/p' <<<"$hardware")
sed -e "s|@STATE_DIR@|$state_dir|g" -e "s|@NODE_NAME@|$node_name|g" -e "s|@PARTITION@|$partition|g" \
    -e "s|@CPUS@|$cpus|g" -e "s|@REAL_MEMORY@|$real_memory|g" \
    -e "s|@SLURMCTLD_PORT@|${SLURMCTLD_PORT:-6817}|g" -e "s|@SLURMD_PORT@|${SLURMD_PORT:-6818}|g" \
    "$here/slurm.conf.in" >"$state_dir/slurm.conf"
cp "$here/gres.conf.in" "$state_dir/gres.conf"
# An empty plugin stack, so the system's /etc/slurm/plugstack.conf is not read.
: >"$state_dir/plugstack.conf"
export SLURM_CONF=$state_dir/slurm.conf

# ---- daemons ------------------------------------------------------------------------------------
dump_logs() {
  for f in "$state_dir"/log/slurmctld.log "$state_dir"/log/slurmd.log; do
    [[ -f $f ]] && { log "--- $f"; tail -n 30 "$f" >&2; }
  done
}
# Daemons get no terminal: a caller capturing our output must not wait on them.
slurmctld -i </dev/null >/dev/null 2>&1 || { dump_logs; exit 1; }
slurmd -N "$node_name" --conf-server "localhost:${SLURMCTLD_PORT:-6817}" </dev/null >/dev/null 2>&1 || { dump_logs; exit 1; }

node_state=
deadline=$((SECONDS + 30))
while (( SECONDS < deadline )); do
  kill -0 "$(cat "$state_dir/run/slurmctld.pid" 2>/dev/null)" 2>/dev/null || { log "slurmctld died"; dump_logs; exit 1; }
  node_state=$(timeout 5 sinfo -h -N -n "$node_name" -o %T 2>/dev/null || true)
  [[ $node_state == idle* ]] && break
  sleep 0.2
done
if [[ $node_state != idle* ]]; then
  log "node $node_name is not idle after 30 s (state: ${node_state:-unknown})"
  dump_logs
  exit 1
fi
log "cluster up: node $node_name ($cpus CPUs, $real_memory MB, gpu:1), partition $partition"
echo "SLURM_CONF=$SLURM_CONF"
