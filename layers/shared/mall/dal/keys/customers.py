"""Keys of the merchant's customer directory (用户管理): the registration index on the profile, the
search entry of each customer (phone keyed hash, nickname prefix) and the tags (用户标签)
(docs/data-model.md, "customers")."""

from __future__ import annotations

from mall.dal.keys.referral import team_partition
from mall.dal.keys.users import user_partition
from mall.dal.table import Key

#: gsi2 partition of every customer profile: the registration index, newest first.
CUSTOMERS_PARTITION = "CUSTOMERS"
#: Sort key of a customer's search entry (``USER#<uid>`` / ``DIRECTORY``).
DIRECTORY_SK = "DIRECTORY"
#: The partition holding every tag definition and its name reservation.
CUSTOMER_TAGS_PARTITION = "CUSTOMER_TAGS"
#: Sort-key prefix of a tag definition in ``CUSTOMER_TAGS``.
TAG_DEFINITION_PREFIX = "TAG#"
#: Sort-key prefix of a customer's tag membership in ``USER#<uid>``.
TAG_MEMBERSHIP_PREFIX = "TAG#"


def registration_sort_key(created_at: str, user_id: str) -> str:
    """gsi2 sort key of a profile under ``CUSTOMERS``: registration time, then the user id."""
    return f"{created_at}#{user_id}"


def directory_key(user_id: str) -> Key:
    """``USER#<uid>`` / ``DIRECTORY``: the customer's search entry (phone hash on gsi1, nickname on gsi2).
    Kept in the customer's own partition so an erasure finds and clears it."""
    return {"pk": user_partition(user_id), "sk": DIRECTORY_SK}


def phone_search_partition(phone_hash: str) -> str:
    """gsi1 ``CUSTOMER_PHONE#<keyed hash>``: the customers who bound this phone."""
    return f"CUSTOMER_PHONE#{phone_hash}"


def nickname_search_partition(first: str) -> str:
    """gsi2 ``CUSTOMER_NICK#<first character>``: nicknames spread by their first character."""
    return f"CUSTOMER_NICK#{first}"


def nickname_search_sort_key(folded: str, user_id: str) -> str:
    return f"{folded}#{user_id}"


def tag_definition_key(tag_id: str) -> Key:
    """``CUSTOMER_TAGS`` / ``TAG#<tag_id>``: a tag's name, count of customers and version."""
    return {"pk": CUSTOMER_TAGS_PARTITION, "sk": f"{TAG_DEFINITION_PREFIX}{tag_id}"}


def tag_name_key(folded_name: str) -> Key:
    """``CUSTOMER_TAGS`` / ``NAME#<folded name>``: reserves a name, so two tags never share one."""
    return {"pk": CUSTOMER_TAGS_PARTITION, "sk": f"NAME#{folded_name}"}


def tag_membership_key(user_id: str, tag_id: str) -> Key:
    """``USER#<uid>`` / ``TAG#<tag_id>``: the customer carries the tag (gsi1 ``TAG_MEMBERS#<tag_id>``)."""
    return {"pk": user_partition(user_id), "sk": f"{TAG_MEMBERSHIP_PREFIX}{tag_id}"}


def tag_members_partition(tag_id: str) -> str:
    """gsi1 ``TAG_MEMBERS#<tag_id>`` / ``<tagged_at>#<uid>``: the customers of a tag, newest first."""
    return f"TAG_MEMBERS#{tag_id}"


def tag_member_sort_key(tagged_at: str, user_id: str) -> str:
    return f"{tagged_at}#{user_id}"


def customer_search_partition(driver: str, value: str | None) -> tuple[str, str]:
    """The index partition one customer search reads, by its driving filter: ``phone`` (the keyed
    hash), ``tag`` (a tag id), ``promoter`` (the team of that promoter), ``nickname`` (a folded
    prefix), anything else the registration index."""
    if value and driver == "phone":
        return "gsi1pk", phone_search_partition(value)
    if value and driver == "tag":
        return "gsi1pk", tag_members_partition(value)
    if value and driver == "promoter":
        return "gsi1pk", team_partition(value)
    if value and driver == "nickname":
        return "gsi2pk", nickname_search_partition(value[:1])
    return "gsi2pk", CUSTOMERS_PARTITION
