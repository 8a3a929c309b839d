"""Use cases of withdrawals (提现): request, review (auto / manual / two admins), views, CSV export.

- ``request``: the promoter's request (提现申请) and the hand-over of approved ones to the payout;
- ``review``: an admin approves (one or two admins), rejects, or reveals a bank account to pay it;
- ``views``: the record as shown, and the promoter's own list;
- ``admin``: the admins' filtered list and its CSV export.

Rules: ``mall.domain.withdrawals`` (and ``WithdrawalRules`` in the settings); items and units of
work: ``mall.dal.withdrawals``. The payout itself (APPROVED → PAYING → PAID | FAILED) belongs to
``mall.services.payouts``: once a withdrawal is APPROVED its id is sent to ``PayoutQueue`` after
the commit. A lost send is harmless: the payout reconciler picks up APPROVED withdrawals that
were never started."""
