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

export const BINDING_MODE: Record<components["schemas"]["BindingMode"], string> = {
  first_click: "首次点击绑定",
  first_payment: "首次付款绑定",
  invite_code: "邀请码绑定",
};

export const SELF_PURCHASE: Record<"rebate" | "none" | "discount", string> = {
  rebate: "自购返佣（本人得一级佣金）",
  none: "自购不返（上级得一级佣金）",
  discount: "自购立减（一级佣金直接抵扣）",
};

export const RISK_MODE: Record<"off" | "observe" | "enforce", string> = { off: "关闭", observe: "仅记录", enforce: "拦截" };

export const PROMOTER_THRESHOLD: Record<"none" | "spent_at_least" | "bought_product", string> = {
  none: "无门槛",
  spent_at_least: "累计消费满额",
  bought_product: "购买指定商品",
};

export const MINIPROGRAM_STATE: Record<"formal" | "trial" | "developer", string> = {
  formal: "正式版",
  trial: "体验版",
  developer: "开发版",
};
