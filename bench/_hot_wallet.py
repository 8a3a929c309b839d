"""Many threads crediting one promoter's wallet at once: the hot-partition ceiling of the ledger."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime

from mall.dal.ledger import LedgerRefused, LedgerRepository
from mall.domain import ledger as L


def credit_hot_wallet(ledger: LedgerRepository, *, promoter_id: str, amount_fen: int, at: datetime,
                      per_transaction: int, threads: int, seconds: float) -> tuple[Counter[str], float, bool]:
    """``threads`` threads post ``per_transaction`` frozen credits a transaction for ``seconds``.

    Returns the totals (``credits``, ``transactions``, ``refused``), the elapsed seconds, and whether
    the wallet ends exactly at what was credited with one version per transaction."""
    stop = time.perf_counter() + seconds
    lock = threading.Lock()
    totals: Counter[str] = Counter()

    def credit(thread: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            batch = [L.commission_frozen(promoter_id=promoter_id, commission_id=f"cm_t{thread}_{n}_{k}",
                                         amount_fen=amount_fen, at=at, ref={}) for k in range(per_transaction)]
            n += 1
            try:
                ledger.post(batch)
            except LedgerRefused:
                with lock:
                    totals["refused"] += 1
                continue
            with lock:
                totals["credits"] += per_transaction
                totals["transactions"] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=credit, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    wallet = ledger.wallet(promoter_id)
    ok = (wallet.balances == L.Balances(frozen=amount_fen * totals["credits"])
          and wallet.version == totals["transactions"])
    return totals, elapsed, ok
