"""The tables of bench/compare.py's rows (issues #8, #17), and the checks on them.

tables() gives two Markdown tables from the rows of a run, merged as medians
over the rounds: throughput and latency with ratios, then the cost of each
operation (the servers' CPU per operation) with the check that each load
generator kept up. A client did not keep up when it was saturated (its CPU
came within 10% of the cores its driving threads can use) or when its system's throughput
fell from 32 to 64 clients by more than 5%: then the row measures the
client, or the system past its knee, and says so.
"""
import datetime
import os
import statistics

SATURATED_SHARE = 0.9  # of the cores the generator's driving threads can use
FELL_BY = 0.05  # 64 clients below 32 by more than this: throughput fell as clients were added
SYSTEMS = [("synod", "synod"), ("etcd", "etcd"), ("zookeeper", "ZooKeeper")]
CLIENTS = {"synod": "synod-loadgen, keep-alive HTTP/1.1 (Beast)",
           "etcd": "etcd_load, gRPC with the v3lock Lock RPC (grpc++)",
           "zookeeper": "zk_load, ZooKeeper's asynchronous C client and its lock recipe"}


def median_rows(rows):
    groups = {}
    for row in rows:
        groups.setdefault((row["system"], row["workload"], row["clients"], row["nodes"]), []).append(row)
    merged = {}
    for key, group in groups.items():
        fields = {k for g in group for k in g}
        row = {}
        for k in fields:
            values = [g[k] for g in group if k in g]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            row[k] = statistics.median(values) if numeric else values[0]
        row["rounds"] = len(group)
        merged[key] = row
    return merged


def keep_up(merged, key):
    """(kept up, flags) for one merged row: whether its generator kept up (was
    not saturated), and what to flag: saturation, and for 64 clients a
    throughput below 32 clients'. A hot lock's handoffs need not rise with
    clients, so a fall there is the system's, flagged all the same."""
    row = merged[key]
    reasons = []
    cores = row.get("client_cpu_cores")
    usable = min(row.get("client_threads") or 1, os.cpu_count())
    if cores is None:
        reasons.append("client CPU not measured")
    elif cores >= SATURATED_SHARE * usable:
        reasons.append(f"client saturated ({cores:.2f} cores of the {usable:.0f} it can use)")
    system, workload, clients, nodes = key
    saturated = bool(reasons)
    fewer = merged.get((system, workload, 32, nodes)) if clients == 64 else None
    if fewer and row["ops_per_s"] < (1 - FELL_BY) * fewer["ops_per_s"]:
        reasons.append(f"throughput fell from {fewer['ops_per_s']:,.0f}/s at 32 clients")
    return not saturated, "; ".join(reasons)


def throughput_table(merged, keys):
    lines = ["| workload | clients | nodes | synod ops/s | synod p50 / p99 / p99.9 ms | etcd ops/s | etcd p50 / p99 ms |"
             " ZooKeeper ops/s | ZooKeeper p50 / p99 ms | synod/etcd | synod/ZooKeeper |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for workload, clients, nodes in keys:
        s, e, z = (merged.get((name, workload, clients, nodes)) for name, _ in SYSTEMS)
        failover = workload.startswith("failover")

        def ops(row):
            if not row:
                return "-"
            return f"median {row['p50_ms']:.0f} ms, max {row['p99_ms']:.0f} ms" if failover else f"{row['ops_per_s']:,.0f}"

        def latency(row, p999=False):
            if not row or failover:
                return "-"
            return f"{row['p50_ms']:.2f} / {row['p99_ms']:.2f}" + (f" / {row['p999_ms']:.2f}" if p999 else "")

        def ratio(a, b):
            if not a or not b:
                return "-"
            if failover:  # lower is better: how many times faster synod recovers
                return f"{b['p50_ms'] / a['p50_ms']:.2f}x faster" if a["p50_ms"] else "-"
            return f"{a['ops_per_s'] / b['ops_per_s']:.2f}" if b["ops_per_s"] else "-"

        synod_latency = f"{s['p50_ms']:.0f} (median)" if s and failover else latency(s, p999=True)
        lines.append(f"| {workload} | {clients} | {nodes} | {ops(s)} | {synod_latency} | {ops(e)} | {latency(e)} |"
                     f" {ops(z)} | {latency(z)} | {ratio(s, e)} | {ratio(s, z)} |")
    return lines


def cost_table(merged, keys):
    lines = ["| workload | clients | nodes | synod server CPU us/op | etcd server CPU us/op | ZooKeeper server CPU us/op |"
             " synod client | etcd client | ZooKeeper client |",
             "|---|---|---|---|---|---|---|---|---|"]
    for workload, clients, nodes in keys:
        if workload.startswith("failover"):
            continue
        cpu, clients_cells = [], []
        for name, _ in SYSTEMS:
            row = merged.get((name, workload, clients, nodes))
            cpu.append("-" if not row or "server_cpu_us_per_op" not in row else f"{row['server_cpu_us_per_op']:,.0f}")
            if not row:
                clients_cells.append("-")
                continue
            kept, flags = keep_up(merged, (name, workload, clients, nodes))
            cores = row.get("client_cpu_cores")
            cell = (f"{cores:.2f} cores" if cores is not None else "?") + (", kept up" if kept else ", **did not keep up**")
            clients_cells.append(cell + (f" (**{flags}**)" if flags else ""))
        lines.append(f"| {workload} | {clients} | {nodes} | " + " | ".join(cpu) + " | " + " | ".join(clients_cells) + " |")
    return lines


def tables(rows):
    merged = median_rows(rows)
    keys = sorted({(w, c, n) for (s, w, c, n) in merged if s != "floor"}, key=lambda k: (k[0], k[2], k[1]))
    lines = throughput_table(merged, keys)
    lines += ["", "Cost per operation, and whether each load generator kept up:", ""]
    lines += cost_table(merged, keys)
    for (s, w, c, n), r in merged.items():
        if s == "floor":
            lines.append(f"\nfloor: {w} p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms")
    for (s, w, c, n), r in merged.items():
        if w.startswith("keepalive"):
            lines.append(f"\n{s} {w}: {r['ops_per_s']:,.0f} renewals/s, servers' CPU {r.get('server_cpu_cores', '?')}"
                         f" cores while renewing ({r.get('server_cpu_us_per_op', '?')} us per renewal), leader RSS"
                         f" {r['leader_rss_mib']} MiB ({r['leader_rss_bytes_per_session']:,} bytes per session opened)")
    return "\n".join(lines)


def smoke_problems(rows):
    """What is wrong with a smoke run's rows: each must have succeeded without
    an error, and carry the servers' CPU per operation and the client's CPU."""
    problems = []
    for row in rows:
        name = f"{row['system']} {row['workload']} x{row['clients']}"
        if row.get("errors") or not row.get("ops"):
            problems.append(f"{name}: {row.get('ops')} ops, {row.get('errors')} errors")
        if not row.get("server_cpu_us_per_op", 0) > 0:
            problems.append(f"{name}: no server_cpu_us_per_op")
        if row.get("client_cpu_cores") is None:
            problems.append(f"{name}: no client_cpu_cores")
    systems = {row["system"] for row in rows}
    problems += [f"no rows from {name}" for name, _ in SYSTEMS if name not in systems]
    return problems


def write_results(path, text, command, versions, args, elapsed_s, rows_path):
    clients = "; ".join(f"{label}: {CLIENTS[name]}" for name, label in SYSTEMS)
    with open(path, "w") as f:
        f.write(f"# synod beside etcd and ZooKeeper\n\nProduced by `{command}` on "
                f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC in {elapsed_s:.0f} s "
                f"(synod {versions['synod']}, {versions['etcd']}, ZooKeeper {versions['zookeeper']}). "
                "Three nodes of each on one 2-core machine, 127.0.0.1, durable writes on; medians over "
                f"{args.rounds} round(s), systems taking turns. Each system is driven through its native protocol: "
                f"{clients}. Raw rows: `{rows_path}`. Failover rows give the time from the signal to the first "
                "write invoked after it that succeeded (median and maximum over the runs); the ratio there says "
                "how many times faster synod recovers. Server CPU per operation is the user plus system time of "
                "all members over the measured window, divided by the operations in it (a lock cycle is one "
                "operation of two commits).\n\n")
        f.write(text + "\n")
