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
