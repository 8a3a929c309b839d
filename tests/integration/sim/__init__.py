"""The money-loop simulator and its helpers (tests/integration/test_money_conservation.py,
test_fault_injection.py, test_money_state_machine.py).

- ``oracle``: commission from first principles (independent of ``mall.domain.commission``) and
  table helpers (scan, empty, normalised snapshots) shared by the integration suites;
- ``world``: a table, the pay sandbox on a simulated clock, the WeChat Pay client and the webhook
  as the deployed function calls it, settings and a catalog;
- ``simulator``: the seeded randomized run of operations in concurrent waves (planning, running,
  reading back, draining);
- ``model``: the shop it sets up and the model it keeps (orders, refunds, withdrawals, operations);
- ``ops_orders``, ``ops_refunds``, ``ops_payouts``, ``ops_extra``, ``ops_bonus``, ``ops_incentives``: the
  operations, mixed into ``simulator.Simulator`` (``ops_incentives`` also holds the oracle of coupons,
  rate sources, campaigns and the cap);
- ``checks``: the invariants checked after a run, against the oracle.
"""
