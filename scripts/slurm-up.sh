#!/usr/bin/env bash
# Brings up a single-node SLURM cluster (slurmctld + slurmd + munge, Debian 12's slurm 22.05) on
# this machine, for the `sculpt sweep` tests. Works without systemd: the daemons are started by
# hand. Safe to run again: installed packages, a running munged and running daemons with an
# unchanged configuration are kept. Needs root. Stop everything with scripts/slurm-down.sh.
#
# The one partition is `debug` (what sweeps/demo.yaml uses); the one node is this machine,
# named `$(hostname -s)`, with `CPUs=$(nproc)`.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "slurm-up.sh: run as root (it installs packages and starts daemons)" >&2
    exit 1
fi

node="$(hostname -s)"
cpus="$(nproc)"
# Advertise 90% of the memory so that `--mem` requests are checked against a real figure and
# slurmd never finds less memory than configured (which would drain the node).
mem_mb="$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)"
conf=/etc/slurm/slurm.conf

log() { printf 'slurm-up: %s\n' "$*"; }

# 1. Packages.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        slurm-wlm slurmctld slurmd slurm-client munge >/dev/null
fi
id slurm >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin slurm
id munge >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin munge

# 2. The node name must resolve.
if ! getent hosts "$node" >/dev/null; then
    log "adding $node to /etc/hosts"
    echo "127.0.0.1 $node" >>/etc/hosts
fi

# 3. munge: a key, its runtime folder, the daemon.
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    mungekey -c -k /etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.2
    done
    munge -n | unmunge >/dev/null
fi

# 4. slurm.conf.
install -d -o slurm -g slurm -m 0755 /var/lib/slurm /var/lib/slurm/slurmctld \
    /var/lib/slurm/slurmd /var/log/slurm /run/slurm
install -d -m 0755 /etc/slurm
new_conf="$(mktemp)"
cat >"$new_conf" <<EOF
# Written by sculpt's scripts/slurm-up.sh: one node, one partition, no accounting database.
ClusterName=sculpt
SlurmctldHost=$node
SlurmUser=slurm
AuthType=auth/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
# Finished jobs stay visible to squeue and scontrol for 10 minutes (sacct needs slurmdbd).
MinJobAge=600
NodeName=$node CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
changed=0
if ! cmp -s "$new_conf" "$conf"; then
    log "writing $conf"
    install -m 0644 "$new_conf" "$conf"
    changed=1
fi
rm -f "$new_conf"

running() { # pid file
    [ -s "$1" ] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null
}

# 5. The daemons. A changed configuration restarts them.
if [ "$changed" = 1 ] && { running /run/slurm/slurmctld.pid || running /run/slurm/slurmd.pid; }; then
    log "configuration changed: restarting the daemons"
    scontrol shutdown >/dev/null 2>&1 || true
    for _ in $(seq 100); do
        running /run/slurm/slurmctld.pid || running /run/slurm/slurmd.pid || break
        sleep 0.2
    done
fi
if ! running /run/slurm/slurmctld.pid; then
    log "starting slurmctld"
    slurmctld -c
fi
if ! running /run/slurm/slurmd.pid; then
    log "starting slurmd"
    slurmd
fi

# 6. Wait until the node takes jobs.
state=""
for _ in $(seq 120); do
    state="$(sinfo -h -n "$node" -o '%t' 2>/dev/null | head -n1 || true)"
    case "$state" in
        idle | mix | alloc) break ;;
        drain* | down*)
            scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
            ;;
    esac
    sleep 0.5
done
case "$state" in
    idle | mix | alloc) ;;
    *)
        echo "slurm-up.sh: node $node is '$state', not idle, after 60 s; see /var/log/slurm/" >&2
        exit 1
        ;;
esac
log "node $node is $state ($cpus CPUs, ${mem_mb} MB, partition debug)"
sinfo
