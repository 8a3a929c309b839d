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

export const EXPORT_KIND: Record<components["schemas"]["CreateExportRequest"]["kind"], string> = {
  orders: "订单",
  commissions: "佣金",
  withdrawals: "提现",
  promoters: "推广员",
  ledger: "资金流水",
};

export const EXPORT_STATUS: Record<components["schemas"]["ExportJobView"]["status"], string> = {
  QUEUED: "排队中",
  RUNNING: "生成中",
  DONE: "已完成",
  FAILED: "失败",
};

export const BONUS_STATUS: Record<components["schemas"]["AdminBonusView"]["status"], string> = {
  FROZEN: "待结算",
  SETTLED: "已结算",
  CANCELLED: "已作废",
};

export const MISMATCH_KIND: Record<components["schemas"]["ReconciliationMismatch"]["kind"], string> = {
  wallet: "余额与流水不符",
  overdrawn: "账户透支",
  posting: "分录借贷不平",
  merchant: "商户账户不符",
  conservation: "总额不守恒",
};
