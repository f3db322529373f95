"""Risk-gate decisions per second for 1,000 accounts, with the naive fleet sum as peer."""

from benchmarks.gate import (
    T0,
    _config,
    _fleet,
    _orders,
    naive_fleet_gross,
    run_gate_bench,
)
from risk.gate import RiskGate


def test_gate_decisions_for_a_fleet_of_1000_accounts(benchmark):
    views, _ = _fleet(1000, 7)
    by_id = {v.account_id: v for v in views}
    cmds = _orders(views, 5000, 7)

    def decide_all():
        gate = RiskGate(_config())
        for view in views:
            gate.observe(view, T0)
        return sum(gate.decide(c, by_id[c.account_id], c.ts_init) is None for c in cmds)

    accepted = benchmark.pedantic(decide_all, rounds=3, iterations=1)
    assert 0 < accepted < len(cmds)          # both paths exercised
    summary = run_gate_bench(accounts=1000, orders=5000, naive_orders=200)
    benchmark.extra_info.update(summary)


def test_naive_fleet_sum_peer(benchmark):
    views, prices = _fleet(1000, 7)
    total = benchmark(naive_fleet_gross, views, prices)
    assert total > 0
