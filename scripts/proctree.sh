# Process-tree clean-up shared by qemu-run.sh and test.sh (sourced, not run).
# A signal to a wrapper script alone must not leave anything it started
# running: these find every process below a PID through the parent links in
# /proc (snapshot first, so nothing escapes by being reparented while others
# die) and stop them.

descendants() { # PID: every process below PID, except this subshell
  local -A kids=()
  local f line pid
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    pid=${f#/proc/}; pid=${pid%/stat}
    line=${line##*) }; line=${line#* }     # "STATE PPID ...": the name may hold spaces
    kids[${line%% *}]+=" $pid"
  done
  local todo=("$1") p c
  while [ ${#todo[@]} -gt 0 ]; do
    p=${todo[0]}; todo=("${todo[@]:1}")
    for c in ${kids[$p]:-}; do
      [ "$c" = "$BASHPID" ] && continue
      echo "$c"; todo+=("$c")
    done
  done
}
running() { # PID: exists and is not a zombie
  local line
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  line=${line##*) }
  [ "${line%% *}" != Z ]
}
stop_descendants() { # GRACE_TENTHS: SIGTERM to all below $$, SIGKILL to any left after GRACE_TENTHS/10 s
  local grace=$1 pids left p i
  pids=$(descendants $$)
  [ -n "$pids" ] || return 0
  kill -TERM $pids 2>/dev/null
  for ((i = 0; i < grace; i++)); do
    left=""
    for p in $pids; do running "$p" && left+=" $p"; done
    [ -z "$left" ] && break
    sleep 0.1
  done
  for p in $left $(descendants $$); do running "$p" && kill -KILL "$p" 2>/dev/null; done
  return 0
}
