# Shared helpers for scripts/bench/*: time commands side by side, print a table with ratios.
#
#   source scripts/bench/lib.sh
#   bench_cmd "label" cmd args...     run it BENCH_RUNS times (default 3; for one slow peer:
#                                    BENCH_RUNS=1 bench_cmd ...), keep the best wall time
#                                    and that run's CPU time and peak RSS; output to /dev/null
#   bench_table "baseline label"      print all rows: seconds, ratio to the baseline, CPU
#                                    seconds (user + system: above the wall time when a tool
#                                    uses several cores), RSS
#   bench_reset                       start a new table
#   BENCH_BEFORE="cmd" bench_cmd ...  run cmd (untimed, through eval) before each run, e.g.
#                                    to remove what the last run wrote
# Wall time comes from bash's $EPOCHREALTIME (microseconds; GNU time's %e has 10 ms steps),
# CPU time and peak RSS from GNU time (Debian package "time").

BENCH_RUNS=${BENCH_RUNS:-3}
bench_labels=(); bench_secs=(); bench_rss=(); bench_cpu=()

bench_reset() { bench_labels=(); bench_secs=(); bench_rss=(); bench_cpu=(); }

bench_cmd() {
  local label=$1; shift
  local best="" rss="" cpu="" t t0 t1 i tf
  tf=$(mktemp)
  for ((i = 0; i < BENCH_RUNS; i++)); do
    if [ -n "${BENCH_BEFORE:-}" ]; then eval "$BENCH_BEFORE"; fi
    # GNU time writes its report to -o FILE: the command's own output is discarded and a
    # non-zero exit (reported on stderr) does not stop the calling script.
    t0=$EPOCHREALTIME
    if ! /usr/bin/time -o "$tf" -f '%M %U %S' "$@" >/dev/null 2>/dev/null; then
      echo "bench: '$label' exited non-zero" >&2
    fi
    t1=$EPOCHREALTIME
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a<b)}'; then
      best=$t
      read -r rss cpu < <(tail -n1 "$tf" | awk '{ printf "%s %.2f\n", $1, $2 + $3 }')
    fi
  done
  rm -f "$tf"
  bench_labels+=("$label"); bench_secs+=("$best"); bench_rss+=("$rss"); bench_cpu+=("$cpu")
}

bench_table() {
  local base=$1 bsec="" i
  for i in "${!bench_labels[@]}"; do [ "${bench_labels[$i]}" = "$base" ] && bsec=${bench_secs[$i]}; done
  printf '%-40s %10s %10s %8s %12s\n' "command" "seconds" "x $base" "cpu s" "peak RSS KiB"
  for i in "${!bench_labels[@]}"; do
    awk -v l="${bench_labels[$i]}" -v s="${bench_secs[$i]}" -v b="$bsec" -v r="${bench_rss[$i]}" \
      -v c="${bench_cpu[$i]}" \
      'BEGIN{ ratio = (b > 0) ? sprintf("%.2f", s / b) : "-"; printf "%-40s %10.4f %10s %8s %12s\n", l, s, ratio, c, r }'
  done
}
