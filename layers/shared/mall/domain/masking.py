"""Personal data (《个人信息保护法》) as responses and log lines show it: masked, never in clear.

Pure string rules (138****1234, 张**). Stored personal data is sealed by
``mall.integrations.pii_crypto``; docs/personal-data.md tells the whole story."""

from __future__ import annotations

import re

#: What an erased token is replaced with (mall.services.erasure).
ERASED = "erased"


def is_erased(token: object) -> bool:
    return token == ERASED


def mask_phone(phone: str) -> str:
    """138****1234; shorter numbers keep only their last 2 digits."""
    digits = phone.strip()
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 2, 1) + digits[-2:]


def mask_name(name: str) -> str:
    """张** / 欧阳** : the family name (first character) only."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def mask_address(address: str) -> str:
    """The first 6 characters (province / city) then stars: enough to recognise, not to locate."""
    address = address.strip()
    return address[:6] + "****" if len(address) > 6 else address[:2] + "****"


def mask_nickname(nickname: str | None) -> str:
    """A team member's nickname in lists: first and last character (微**友)."""
    if not nickname:
        return "微信用户"
    if len(nickname) <= 2:
        return nickname[:1] + "*"
    return nickname[:1] + "**" + nickname[-1:]


def mask_user_id(user_id: str) -> str:
    """A buyer shown to a promoter by id, the same on every page (commissions, orders, tracking, the
    audit trail): ``u_xp****nz2l``, enough to tell two buyers apart, not to look one up."""
    return f"{user_id[:4]}****{user_id[-4:]}" if len(user_id) > 8 else user_id[:2] + "****"


_PHONE_IN_TEXT = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_SIGNER_IN_TEXT = re.compile(r"(签收人|收件人|代收人)([:：]\s*)([^\s，,。;；)）]+)")


def mask_text(text: str) -> str:
    """A carrier's free text (物流轨迹) with the phone numbers and signer names in it masked."""
    text = _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)
    return _SIGNER_IN_TEXT.sub(lambda m: m.group(1) + m.group(2) + mask_name(m.group(3)), text)
