#!/usr/bin/env python3
"""Render the fault suite's JSON results (tests/fault, one file per run)
as the Markdown table of docs/fault-report.md.

  bench/fault_report.py RESULTS.json [MORE.json ...] [-o docs/fault-report.md]

Several files are merged in order (a later record of the same scenario and
mode replaces an earlier one), so a partial rerun can update a table.
Without -o the Markdown goes to stdout.
"""

import argparse
import json
import sys


def cell(v):
    if v is None:
        return "—"
    return str(v).replace("|", "\\|").replace("\n", " ")


def verdict(s):
    bad = []
    if s.get("split_brain"):
        bad.append("SPLIT BRAIN")
    if not s.get("recovered"):
        bad.append("not recovered")
    if s.get("mode") != "async" and s.get("lost_writes"):
        bad.append("commits lost")
    return "; ".join(bad) or "ok"


def render(docs):
    merged = {}
    runs = []
    for d in docs:
        runs.append(d.get("run", {}))
        for s in d.get("scenarios", []):
            merged[(s["scenario"], s["mode"])] = s
    out = []
    for r in runs:
        out.append(
            f"- run finished {r.get('finished_utc')} on host `{r.get('host')}` "
            f"(kernel {r.get('kernel')}, {r.get('cpus')} CPUs), regent {r.get('version')} "
            f"at commit `{r.get('git')}`, build `{r.get('build')}`"
        )
    out.append("")
    out.append(
        "| scenario | mode | faults injected | primary before → after | acked writes "
        "| writes lost | split-brain intervals | allowed overlaps | longest write gap (s) "
        "| time to recover (s) | result |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in merged.values():
        sb = s.get("split_brain") or []
        al = s.get("overlaps_allowed") or []
        sb_txt = "0" if not sb else f"{len(sb)}: " + ", ".join(
            f"{'/'.join(o['nodes'])} {o['seconds']}s" for o in sb)
        al_txt = "0" if not al else f"{len(al)}: " + ", ".join(
            f"{'/'.join(o['nodes'])} {o['seconds']}s ({o['allowed']})" for o in al)
        lost = s.get("lost_writes")
        if lost is not None and s.get("mode") == "async" and lost:
            lost = f"{lost} (async: reported)"
        rec = s.get("time_to_recover_s")
        if rec is None and s.get("recovery_error"):
            rec = f"not within the bound: {s['recovery_error']}"
        out.append("| " + " | ".join(cell(v) for v in [
            s["scenario"], s["mode"], "; ".join(s.get("faults") or []),
            f"{s.get('primary_before')} → {s.get('primary_after')}", s.get("acked_writes"),
            lost, sb_txt, al_txt, s.get("longest_write_gap_s"), rec, verdict(s),
        ]) + " |")
    notes = [(k, s["notes"]) for k, s in merged.items() if s.get("notes")]
    if notes:
        out.append("")
        out.append("Notes recorded by the scenarios:")
        out.append("")
        for (name, mode), ns in notes:
            for n in ns:
                out.append(f"- {name} ({mode}): {cell(n)}")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("-o", "--output")
    ap.add_argument("--header", help="a Markdown file whose text goes before the table")
    a = ap.parse_args()
    docs = []
    for p in a.results:
        with open(p) as f:
            docs.append(json.load(f))
    text = render(docs)
    if a.header:
        with open(a.header) as f:
            text = f.read().rstrip("\n") + "\n\n" + text
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
