"""Keys of the money: wallets and ledger postings, the merchant's sharded accounts, commission
records, withdrawals and their daily counters, team orders and team bonuses (docs/data-model.md,
"ledger", "commissions", "withdrawals", docs/team-bonus.md)."""

from __future__ import annotations

import hashlib
import zlib
from typing import TYPE_CHECKING

from mall.clock import iso
from mall.dal.keys.orders import order_pk
from mall.dal.keys.users import user_partition
from mall.dal.table import Key

if TYPE_CHECKING:
    from mall.domain.ledger import Posting

#: Sort-key prefix of a promoter's postings (``USER#<uid>`` / ``LEDGER#<at>#<posting_id>``).
POSTING_PREFIX = "LEDGER#"
#: Sort-key prefix of an order's commission records (``ORDER#<id>`` / ``COMMISSION#<line>#<level>``).
COMMISSION_PREFIX = "COMMISSION#"


def wallet_key(user_id: str) -> Key:
    return {"pk": user_partition(user_id), "sk": "WALLET"}


#: Partitions a promoter's postings are spread over, by the posting id: every credit of a viral
#: promoter writes a posting, and one partition takes at most 1,000 write units a second (a posting in
#: a transaction: 2). Shard 0 is the promoter's own partition, where postings were before sharding,
#: with the wallet. Three: batched credits (0.2 WCU each on the wallet) leave shard 0 at 0.87 WCU per
#: credit, within 1,000 credits/s, and a ledger page is three Queries (the promoter routes' budget).
POSTING_SHARDS = 3


def posting_shard(posting_id: str) -> int:
    return zlib.crc32(posting_id.encode()) % POSTING_SHARDS


def settlement_posting_shard(posting_id: str) -> int:
    """A settlement posting (one per settled chunk, ``Posting.settles``) is in a shard other than
    shard 0, which holds the wallet every credit and every settlement already writes: at a viral
    rate sustained past the settlement delay, shard 0 then takes no settlement posting at all."""
    return 1 + zlib.crc32(posting_id.encode()) % (POSTING_SHARDS - 1)


def posting_partition(user_id: str, shard: int) -> str:
    """``USER#<uid>`` for shard 0, ``USER#<uid>#LEDGER#<shard>`` for the others."""
    return user_partition(user_id) if shard == 0 else f"{user_partition(user_id)}#{POSTING_PREFIX}{shard}"


def posting_partitions(user_id: str) -> list[str]:
    """Every partition a promoter's postings may be in (readers merge them by sort key)."""
    return [posting_partition(user_id, shard) for shard in range(POSTING_SHARDS)]


def posting_key(posting: Posting) -> Key:
    shard = settlement_posting_shard(posting.posting_id) if posting.settles else posting_shard(posting.posting_id)
    return {"pk": posting_partition(posting.promoter_id, shard),
            "sk": posting_sort_key(posting)}


def posting_sort_key(posting: Posting) -> str:
    return f"{posting_sort_bound(iso(posting.at))}#{posting.posting_id}"


def posting_sort_bound(at: str) -> str:
    """A bound of a range of postings' sort keys (``LEDGER#<at>``): ``at`` an instant, a day or a sentinel."""
    return f"{POSTING_PREFIX}{at}"


def postings_partition(user_id: str) -> tuple[str, str]:
    """The partition a promoter's postings are listed from (what a cursor of that list is bound to)."""
    return "pk", user_partition(user_id)


def is_posting_key(key: Key) -> bool:
    return str(key.get("sk", "")).startswith(POSTING_PREFIX)


def merchant_key(account: str, shard: int) -> Key:
    return {"pk": f"MERCHANT_ACCOUNT#{account}#{shard:02d}", "sk": "BALANCE"}


def commission_sk(line_id: str, level: int) -> str:
    return f"{COMMISSION_PREFIX}{line_id}#{level}"


def commission_key(order_id: str, line_id: str, level: int) -> Key:
    return {"pk": order_pk(order_id), "sk": commission_sk(line_id, level)}


def beneficiary_partition(user_id: str) -> str:
    """The promoter's gsi1 partition of commission records: shard 0, where every record was before sharding."""
    return f"COMMISSIONS#{user_id}"


#: Partitions a promoter's gsi1 commission entries are spread over, by the commission id: every
#: credit writes one entry (1 WCU, the record projected under 1 KB), at the newest end of the
#: promoter's records, where one partition takes 1,000 WCU/s; two shards take a viral promoter's
#: 1,000 credits/s at 500 WCU/s each. Two, not more: a promoter's commission list and orders list are
#: one Query per shard plus one BatchGetItem (buyers, orders), within the promoter routes' three round
#: trips. The later rewrites of a record (due date, settlement: 1 WCU each) fall on records days old
#: (docs/settlement.md, "One promoter receiving 1,000 commission credits per second").
COMMISSION_INDEX_SHARDS = 2


def beneficiary_shard(commission_id: str) -> int:
    """The shard of a record's gsi1 entry: from its id alone, so every rewrite of the record, by any
    worker, keeps the entry where it was created. Not crc32: its low bit is a linear function of the
    input bits, which puts ids differing in one digit (``o_1``, ``o_2``, ...) all in one of two shards."""
    digest = hashlib.blake2b(commission_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % COMMISSION_INDEX_SHARDS


def beneficiary_shard_partition(user_id: str, shard: int) -> str:
    """``COMMISSIONS#<uid>`` for shard 0, ``COMMISSIONS#<uid>#<shard>`` for the others."""
    return beneficiary_partition(user_id) if shard == 0 else f"{beneficiary_partition(user_id)}#{shard}"


def beneficiary_partitions(user_id: str) -> list[str]:
    """Every gsi1 partition a promoter's commission records may be in (readers merge them by ``gsi1sk``)."""
    return [beneficiary_shard_partition(user_id, shard) for shard in range(COMMISSION_INDEX_SHARDS)]


def commission_index_partition(user_id: str, commission_id: str) -> str:
    """The gsi1 partition of one record of ``user_id``'s."""
    return beneficiary_shard_partition(user_id, beneficiary_shard(commission_id))


def due_partition(shard: int) -> str:
    return f"SETTLE_DUE#{shard:02d}"


def withdrawal_pk(withdrawal_id: str) -> str:
    return f"WITHDRAWAL#{withdrawal_id}"


def withdrawal_key(withdrawal_id: str) -> Key:
    return {"pk": withdrawal_pk(withdrawal_id), "sk": "WITHDRAWAL"}


def withdrawal_status_partition(status: str) -> str:
    return f"WITHDRAWALS#{status}"


def withdrawal_promoter_partition(user_id: str) -> str:
    return f"PROMOTER_WITHDRAWALS#{user_id}"


def withdrawal_list_key(created_at: str, withdrawal_id: str) -> Key:
    """``WITHDRAWAL_LIST`` / ``<created_at>#<id>``: a withdrawal's entry in the list of every status
    (the admin list without a status or promoter filter reads one partition, not one per status)."""
    return {"pk": WITHDRAWAL_LIST_PARTITION, "sk": f"{created_at}#{withdrawal_id}"}


#: The partition of the list of every withdrawal (``withdrawal_list_key``).
WITHDRAWAL_LIST_PARTITION = "WITHDRAWAL_LIST"


def promoter_list_partition(user_id: str) -> tuple[str, str]:
    """The index partition a promoter's own withdrawals are read from (what a cursor of that list is bound to)."""
    return "gsi2pk", withdrawal_promoter_partition(user_id)


def daily_counter_key(user_id: str, day: str) -> Key:
    return {"pk": user_partition(user_id), "sk": f"WITHDRAW_DAY#{day}"}


def team_orders_partition(month: str, shard: int) -> str:
    return f"TEAM_ORDERS#{month}#{shard:02d}"


def team_order_key(promoter_id: str, month: str, order_id: str) -> Key:
    # Imported here: the stats rules load the commission rules and the settings model, which every
    # function reading a key would otherwise pay for at cold start.
    from mall.domain.stats import team_sales_shard

    return {"pk": team_orders_partition(month, team_sales_shard(promoter_id)),
            "sk": f"USER#{promoter_id}#ORDER#{order_id}"}


def bonus_month_partition(month: str) -> str:
    return f"BONUSES#{month}"


def bonus_key(promoter_id: str, month: str) -> Key:
    return {"pk": bonus_month_partition(month), "sk": user_partition(promoter_id)}


def bonus_promoter_partition(promoter_id: str) -> str:
    return f"PROMOTER_BONUSES#{promoter_id}"


def prize_month_partition(month: str) -> str:
    """``PRIZES#<month>``: the month's leaderboard ranking (``RANKING``) and its awards (``RANK#<nn>``)."""
    return f"PRIZES#{month}"


def prize_ranking_key(month: str) -> Key:
    return {"pk": prize_month_partition(month), "sk": "RANKING"}


def prize_key(month: str, rank: int) -> Key:
    return {"pk": prize_month_partition(month), "sk": f"RANK#{rank:02d}"}


#: Awards waiting for their promoter's open risk case to close (``PRIZES_HELD`` / ``<month>#<nn>``).
HELD_PRIZES_PARTITION = "PRIZES_HELD"


def held_prize_key(month: str, rank: int) -> Key:
    return {"pk": HELD_PRIZES_PARTITION, "sk": f"{month}#{rank:02d}"}


def adjustment_key(adjustment_id: str) -> Key:
    """``ADJUSTMENT#<id>`` / ``ADJUSTMENT``: a manual commission adjustment (人工调整)."""
    return {"pk": f"ADJUSTMENT#{adjustment_id}", "sk": "ADJUSTMENT"}


def adjustment_status_partition(status: str) -> str:
    """gsi1 ``ADJUSTMENTS#<status>`` of an adjustment (moves with the status): the pending approvals."""
    return f"ADJUSTMENTS#{status}"
