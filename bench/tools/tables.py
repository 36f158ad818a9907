#!/usr/bin/env python3
"""Renders the result files of scripts/bench-all.sh as the Markdown tables of BENCHMARKS.md.

Usage: tables.py CRITERION_DIR RESULTS_DIR [BENCHMARKS_MD]

Reads criterion's estimates (CRITERION_DIR/<group>/<bench>/new/{estimates,benchmark}.json), the
load reports (RESULTS_DIR/load-*.json), the layout summaries (RESULTS_DIR/layout-*.json,
influx-*.json) and the query report (RESULTS_DIR/queries*.json). Writes RESULTS_DIR/tables.md and,
when BENCHMARKS_MD is given, replaces what lies between `<!-- tables:begin -->` and
`<!-- tables:end -->` there with the same text.
"""
import glob, json, os, sys


def load(path):
    with open(path) as f:
        return json.load(f)


def criterion_table(root):
    rows = []
    for est in sorted(glob.glob(f"{root}/*/*/new/estimates.json")):
        d = os.path.dirname(est)
        bench = load(os.path.join(d, "benchmark.json"))
        e = load(est)
        median_ns = e["median"]["point_estimate"]
        lo, hi = e["median"]["confidence_interval"]["lower_bound"], e["median"]["confidence_interval"]["upper_bound"]
        tp = (bench.get("throughput") or {}).get("Elements")
        if not tp:
            continue
        rate = tp / (median_ns * 1e-9) / 1e6
        rows.append((bench["group_id"], bench.get("function_id") or bench.get("value_str") or "", tp, median_ns / tp,
                     rate, tp / (hi * 1e-9) / 1e6, tp / (lo * 1e-9) / 1e6))
    out = ["| group | scenario (bench id) | readings per iteration | ns per reading | M readings/s (median) | interval |",
           "|---|---|---|---|---|---|"]
    for g, f, tp, nspr, rate, rlo, rhi in rows:
        out.append(f"| `{g}` | `{f}` | {tp:,} | {nspr:.1f} | **{rate:.2f}** | {rlo:.2f}–{rhi:.2f} |")
    return "\n".join(out)


def load_table(results):
    out = ["| run | rate asked | published/s | stored/s | ceiling/s | stored ÷ ceiling | no loss | publish → live p50/p99/max ms | publish → queryable (timeline API) p50/p99/max ms | wardstream CPU (cores) | peak RSS MiB | WAL fsyncs (p99 µs) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(glob.glob(f"{results}/load-*.json")):
        r = load(path)
        name = os.path.basename(path)[5:-5]
        lat = r.get("latency", {})
        def trio(key):
            s = lat.get(key) or {}
            if not s or not s.get("samples"):
                return "–"
            return "/".join(f"{s.get(k, float('nan')):.0f}" for k in ("p50_ms", "p99_ms", "max_ms"))
        cpu = r.get("cpu", {})
        wal = r.get("wal") or {}
        out.append("| {} | {} | {:,.0f} | {:,.0f} | {:,.0f} | {:.1%} | {} | {} | {} | {} | {:.0f} | {} |".format(
            name, r["scenario"]["rate"], r["published"]["readings_per_s"], r["stored"]["readings_per_s"],
            r["ceiling"]["readings_per_s"], r["ratio_stored_to_ceiling"], "yes" if r["no_loss"] else "**no**",
            trio("publish_to_live"), trio("publish_to_timeline"),
            f"{cpu.get('wardstream_cores', float('nan')):.2f}" if cpu else "–",
            r["peak_rss_mib"], f"{wal['fsyncs']:,} ({wal['fsync_p99_us']:,})" if wal else "–"))
    return "\n".join(out)


def layout_table(results):
    out = ["| data set | readings | raw SenML B/reading | Parquet as written B/reading (files) | Parquet compacted B/reading (files) | InfluxDB 1.x B/reading (values only) | Parquet ÷ InfluxDB | InfluxDB 1.x + `received_at` B/reading | Parquet ÷ InfluxDB + `received_at` |",
           "|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(glob.glob(f"{results}/layout-*.json")):
        r = load(path)
        name = os.path.basename(path)[7:-5]
        cb = r["compacted"]["bytes_per_reading"]
        cells = []
        for suffix in ("", "-received_at"):
            influx_path = f"{results}/influx-{name}{suffix}.json"
            ib = load(influx_path)["bytes_per_reading"] if os.path.exists(influx_path) else None
            cells += [f"{ib:.3f}" if ib else "–", f"{cb / ib:.2f}" if ib else "–"]
        senml = r.get("senml_bytes_per_reading")
        out.append("| {} | {:,} | {} | {:.3f} ({}) | **{:.3f}** ({}) | {} |".format(
            name, r["readings"], f"{senml:.1f}" if senml else "–", r["written"]["bytes_per_reading"], r["written"]["files"],
            cb, r["compacted"]["files"], " | ".join(cells)))
    return "\n".join(out)


def query_table(results):
    parts = []
    for path in sorted(glob.glob(f"{results}/queries*.json")):
        r = load(path)
        parts.append(f"`{os.path.basename(path)}`: table `{r['table']}`, {r['runs']} runs each, medians; "
                     f"`wardstream query` start-up (`SELECT 1`) {r['wardstream_startup_s']:.3f} s; DuckDB {r['duckdb_version']}.\n")
        out = ["| query | rows | identical | wardstream query s | DuckDB s | ratio | ratio without start-up |", "|---|---|---|---|---|---|---|"]
        for name, q in r["queries"].items():
            out.append(f"| `{name}` | {q['rows']:,} | {'yes' if q['identical'] else '**no**: ' + q['difference'][:80]} | "
                       f"{q['wardstream_median_s']:.3f} | {q['duckdb_median_s']:.3f} | {q['ratio']:.2f} | {q['ratio_without_startup']:.2f} |")
        out.append(f"| **geometric mean** | | | | | **{r['geomean_ratio']:.2f}** | **{r['geomean_ratio_without_startup']:.2f}** |")
        parts.append("\n".join(out))
    return "\n\n".join(parts)


def main():
    criterion, results = sys.argv[1], sys.argv[2]
    text = "\n\n".join([
        "### criterion (generated)\n\n" + criterion_table(criterion),
        "### Load harness (generated)\n\n" + load_table(results),
        "### Parquet layout (generated)\n\n" + layout_table(results),
        "### Analyst queries (generated)\n\n" + query_table(results),
    ]) + "\n"
    with open(f"{results}/tables.md", "w") as f:
        f.write(text)
    if len(sys.argv) > 3:
        md = open(sys.argv[3]).read()
        b, e = "<!-- tables:begin -->", "<!-- tables:end -->"
        if b in md and e in md:
            md = md[: md.index(b) + len(b)] + "\n" + text + md[md.index(e):]
            open(sys.argv[3], "w").write(md)
    print(text)


if __name__ == "__main__":
    main()
