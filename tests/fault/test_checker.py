"""The checker's own tests: synthetic prober samples, no cluster."""

import fault_harness as fh


def s(node, t, ans, pm="pm1"):
    return (node, t, t + 0.01, ans, pm if ans == "w" else None)


def test_a_failover_is_not_an_overlap():
    samples = [s("a", 0, "w"), s("b", 0.1, "ro"), s("a", 1, "w"), s("b", 1.1, "ro"),
               s("a", 2, "err"), s("b", 2.1, "err"), s("a", 3, "err"), s("b", 3.1, "w"),
               s("a", 4, "ro"), s("b", 4.1, "w")]
    spans = fh.writable_spans(samples)
    assert [x[0] for x in spans] == ["a", "b"]
    assert fh.overlaps(spans) == []


def test_writes_on_both_sides_of_another_nodes_write_overlap():
    samples = [s("a", 0, "w"), s("b", 0.1, "ro"), s("a", 1, "w"), s("b", 1.1, "w"),
               s("a", 2, "w"), s("b", 2.1, "w")]
    bad = fh.overlaps(fh.writable_spans(samples))
    assert [(o[0], o[1]) for o in bad] == [("a", "b")]


def test_an_unanswered_probe_does_not_end_a_run_but_a_restart_does():
    # a answers writable, then no answer, then writable again from the same
    # postmaster: one run, so b's write in between is an overlap.
    same = [s("a", 0, "w"), s("b", 0.5, "w"), s("a", 1, "err"), s("a", 2, "w")]
    assert fh.overlaps(fh.writable_spans(same))
    # The same with a new postmaster: two runs of a, b's write between them.
    restarted = [s("a", 0, "w"), s("b", 0.5, "w"), s("a", 1, "err"), s("a", 2, "w", pm="pm2")]
    assert not fh.overlaps(fh.writable_spans(restarted))


def test_a_read_only_answer_ends_a_run():
    samples = [s("a", 0, "w"), s("a", 1, "ro"), s("b", 1.5, "w"), s("a", 2, "w")]
    assert not fh.overlaps(fh.writable_spans(samples))


def test_longest_gap():
    acked = [(1, 1.0, "a"), (2, 1.5, "a"), (3, 4.0, "b")]
    assert fh.longest_gap(acked, 0.5, 5.0) == 2.5
