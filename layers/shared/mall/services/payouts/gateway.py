"""What payouts need of WeChat Pay's merchant transfers (商家转账), and how our transfers are declared."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mall.config import get_settings

if TYPE_CHECKING:
    # The client's module (with the TLS context its transport builds) is loaded by the first call to WeChat
    # Pay: the payout reconciler's usual run has no bill to ask about; the payout worker, whose every
    # message calls, loads it at its cold start.
    from mall.integrations.wechatpay.client import TransferSceneReportInfo
    from mall.integrations.wechatpay.transfer_resources import (
        TransferBillCancelled,
        TransferBillCreated,
        TransferBillResource,
    )


class TransferGateway(Protocol):
    """What payouts need of ``mall.integrations.wechatpay.client.WeChatPayClient``."""

    def create_transfer_bill(self, out_bill_no: str, *, openid: str, amount_fen: int, remark: str,
                             notify_url: str, transfer_scene_id: str, user_recv_perception: str,
                             scene_report_infos: Sequence[TransferSceneReportInfo | Mapping[str, str]],
                             user_name_encrypted: str | None = None) -> TransferBillCreated: ...

    def query_transfer_bill(self, out_bill_no: str) -> TransferBillResource: ...

    def cancel_transfer_bill(self, out_bill_no: str) -> TransferBillCancelled: ...

    def encrypt_sensitive(self, plaintext: str) -> str: ...


@dataclass(frozen=True, slots=True)
class TransferProfile:
    """How our transfers are declared to WeChat Pay. The scene (1005 佣金报酬), the payee's
    perception and the report infos must match what the merchant was granted in the merchant
    platform (*unverified* defaults, set in ``mall.config``: ``PAYOUT_TRANSFER_SCENE_ID``,
    ``PAYOUT_USER_RECV_PERCEPTION``, ``PAYOUT_TRANSFER_REMARK``, ``PAYOUT_REPORT_INFOS`` =
    ``type:content;type:content``)."""

    scene_id: str = "1005"
    user_recv_perception: str = "劳务报酬"
    remark: str = "推广佣金提现"
    report_infos: tuple[tuple[str, str], ...] = (("岗位类型", "推广员"), ("报酬说明", "推广佣金提现"))

    def infos(self) -> list[TransferSceneReportInfo]:
        from mall.integrations.wechatpay.client import TransferSceneReportInfo

        return [TransferSceneReportInfo(kind, content) for kind, content in self.report_infos]


def transfer_profile() -> TransferProfile:
    settings = get_settings()
    infos = tuple((k.strip(), v.strip()) for k, _, v in
                  (part.partition(":") for part in settings.payout_report_infos.split(";") if part.strip()))
    return TransferProfile(scene_id=settings.payout_transfer_scene_id,
                           user_recv_perception=settings.payout_user_recv_perception,
                           remark=settings.payout_transfer_remark, report_infos=infos or TransferProfile().report_infos)


def configured_notify_url() -> str:
    from mall.integrations.wechatpay.factory import merchant_config

    return merchant_config().notify_url


@dataclass(frozen=True, slots=True)
class Transfers:
    """How payouts reach WeChat Pay: ``pay`` builds the client when a call is to be made (a run
    with nothing to pay never loads the merchant key); ``notify_url`` and ``profile``, when not
    given, are the configured ones, read when a bill is created."""

    pay: Callable[[], TransferGateway]
    notify_url: str | None = None
    profile: TransferProfile | None = None

    def bill_notify_url(self) -> str:
        return self.notify_url or configured_notify_url()

    def bill_profile(self) -> TransferProfile:
        return self.profile or transfer_profile()
