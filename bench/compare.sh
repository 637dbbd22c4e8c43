#!/usr/bin/env bash
# compare.sh prints, from one `go test -bench` run of this module, every
# middleware case's cost and its overhead over the bare gin engine of the
# same benchmark, as a Markdown table per benchmark. Each number is the
# median of the run's repetitions (-count).
#
#   ./compare.sh              runs the benchmarks (COUNT=5, BENCH=Middleware)
#   ./compare.sh out.txt      reads saved `go test -bench` output ("-": stdin)
#
# Columns: ns/op and cpu-ns/op (CPU time of the benchmark; see README.md),
# +ns is case minus bare, ×bare is case over bare, ÷ordersvc is the case's
# overhead over ordersvc's (above 1: the case costs more than ordersvc).
set -euo pipefail
cd "$(dirname "$0")"

if (($# > 0)); then
	input=$1
else
	input=$(mktemp)
	trap 'rm -f "$input"' EXIT
	go test -run '^$' -bench "${BENCH:-Middleware}" -benchmem -count "${COUNT:-5}" | tee "$input" >&2
fi

awk '
function median(s,    a, n, i, j, t) {
	n = split(s, a, " ")
	if (n == 0) return ""
	for (i = 2; i <= n; i++) {
		t = a[i] + 0
		for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	return n % 2 ? a[(n + 1) / 2] + 0 : (a[n / 2] + a[n / 2 + 1]) / 2
}
function get(g, c, u) { return median(vals[g, c, u]) }
function num(v, f) { return v == "" ? "-" : sprintf(f, v) }
function diff(v, b, f) { return v == "" || b == "" ? "-" : sprintf(f, v - b) }
/^Benchmark[^ \t]*\/[^ \t]+[ \t]+[0-9]+[ \t]/ {
	name = $1
	sub(/-[0-9]+$/, "", name) # the GOMAXPROCS suffix
	slash = index(name, "/")
	g = substr(name, 1, slash - 1)
	c = substr(name, slash + 1)
	if (!(g in seen)) { seen[g] = 1; groups[++ngroups] = g }
	if (!((g, c) in cseen)) { cseen[g, c] = 1; cases[g, ++ncases[g]] = c }
	runs[g, c]++
	for (i = 3; i < NF; i += 2) vals[g, c, $(i + 1)] = vals[g, c, $(i + 1)] " " $i
}
END {
	if (ngroups == 0) { print "compare.sh: no sub-benchmark results in the input" > "/dev/stderr"; exit 1 }
	for (k = 1; k <= ngroups; k++) {
		g = groups[k]
		bns = get(g, "bare", "ns/op"); bcpu = get(g, "bare", "cpu-ns/op")
		bb = get(g, "bare", "B/op"); ba = get(g, "bare", "allocs/op")
		own = get(g, "ordersvc", "ns/op")
		own = (own == "" || bns == "") ? "" : own - bns
		printf "\n### %s (median of %d runs)\n\n", g, runs[g, cases[g, 1]]
		print "| case | ns/op | +ns | ×bare | ÷ordersvc | cpu-ns/op | +cpu-ns | B/op | +B | allocs/op | +allocs |"
		print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		for (i = 1; i <= ncases[g]; i++) {
			c = cases[g, i]
			ns = get(g, c, "ns/op"); cpu = get(g, c, "cpu-ns/op")
			b = get(g, c, "B/op"); a = get(g, c, "allocs/op")
			ratio = (ns == "" || bns == "" || bns == 0) ? "-" : sprintf("%.2f", ns / bns)
			vs = (c == "bare" || ns == "" || own == "" || own <= 0) ? "-" : sprintf("%.2f", (ns - bns) / own)
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c,
				num(ns, "%.0f"), diff(ns, bns, "%+.0f"), ratio, vs,
				num(cpu, "%.0f"), diff(cpu, bcpu, "%+.0f"),
				num(b, "%.0f"), diff(b, bb, "%+.0f"), num(a, "%.0f"), diff(a, ba, "%+.0f")
		}
	}
}' "$input"
