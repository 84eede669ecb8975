#!/usr/bin/env bash
# Stops the single-node SLURM started by scripts/slurm-up.sh: slurmctld and slurmd through
# `scontrol shutdown`, munged by the pid in its pid file. Packages and configuration stay, so
# slurm-up.sh starts again quickly. Safe to run when nothing is running.
set -euo pipefail

log() { printf 'slurm-down: %s\n' "$*"; }

running() { # pid file
    [ -s "$1" ] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null
}

if running /run/slurm/slurmctld.pid || running /run/slurm/slurmd.pid; then
    log "stopping slurmctld and slurmd"
    scontrol shutdown >/dev/null 2>&1 || true
    for _ in $(seq 100); do
        running /run/slurm/slurmctld.pid || running /run/slurm/slurmd.pid || break
        sleep 0.2
    done
    # slurmd alone (no controller to tell it) gets a SIGTERM.
    if running /run/slurm/slurmd.pid; then
        kill -TERM "$(cat /run/slurm/slurmd.pid)" 2>/dev/null || true
    fi
fi

munge_pid=/run/munge/munged.pid
if running "$munge_pid"; then
    log "stopping munged"
    kill -TERM "$(cat "$munge_pid")"
    for _ in $(seq 50); do
        running "$munge_pid" || break
        sleep 0.2
    done
fi
log "stopped"
