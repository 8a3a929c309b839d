/** Chinese labels of the API's codes. */
import type { components } from "../api/schema";

export const WITHDRAWAL_STATUS: Record<components["schemas"]["WithdrawalStatus"], string> = {
  PENDING_REVIEW: "待审核",
  APPROVED: "已通过",
  PAYING: "打款中",
  PAID: "已到账",
  FAILED: "失败",
  REJECTED: "已驳回",
};

export const WITHDRAWAL_METHOD: Record<"wechat" | "bank", string> = { wechat: "微信零钱", bank: "银行卡" };

export const PROMOTER_STATUS: Record<components["schemas"]["PromoterAdminView"]["status"], string> = {
  applied: "待审核",
  active: "正常",
  frozen: "已冻结",
  disabled: "已禁用",
  rejected: "已驳回",
};

export const PROMOTER_ACTION: Record<string, string> = {
  apply: "申请",
  approve: "审核通过",
  reject: "驳回申请",
  freeze: "冻结",
  unfreeze: "解冻",
  disable: "禁用",
  set_level: "调整等级",
  upgrade: "自动升级",
  downgrade: "自动降级",
  set_override: "专属佣金比例",
};

export const COMMISSION_STATUS: Record<components["schemas"]["AdminCommissionView"]["status"], string> = {
  FROZEN: "待结算",
  SETTLED: "已结算",
  CANCELLED: "已取消",
};

export const LEDGER_KIND: Record<string, string> = {
  commission_frozen: "佣金入账（待结算）",
  commission_settled: "佣金结算",
  commission_cancelled: "佣金取消",
  commission_clawed_back: "佣金追回",
  commission_voided: "佣金作废",
  debt_repaid: "偿还欠款",
  withdrawal_held: "提现冻结",
  withdrawal_paid: "提现到账",
  withdrawal_returned: "提现退回",
  bonus_frozen: "团队奖励（待结算）",
  bonus_settled: "团队奖励结算",
};

export const BINDING_OUTCOME: Record<components["schemas"]["BindResult"]["outcome"], string> = {
  bound: "已绑定",
  rebound: "已改绑",
  unchanged: "绑定未变",
  unbound: "已解绑",
};
