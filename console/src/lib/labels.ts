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

export const PRODUCT_TYPE: Record<components["schemas"]["AdminProductView"]["type"], string> = {
  physical: "实物",
  service: "服务（核销）",
  virtual: "虚拟",
};

export const COMMISSION_MODE: Record<components["schemas"]["CommissionSettingView"]["mode"], string> = {
  inherit: "继承分类/全局",
  ratio: "按比例",
  fixed: "固定金额",
};

export const ORDER_STATUS: Record<string, string> = {
  CREATED: "待付款",
  PAID: "待发货",
  EXPIRED: "已超时",
  PAID_AFTER_EXPIRY: "超时后付款",
  SHIPPED: "已发货",
  COMPLETED: "已完成",
  CLOSED: "已关闭",
};

export const FULFILMENT: Record<string, string> = { physical: "快递发货", service: "到店核销", virtual: "虚拟发放" };

export const REFUND_STATUS: Record<components["schemas"]["RefundStatus"], string> = {
  REQUESTED: "待审核",
  REJECTED: "已驳回",
  PROCESSING: "退款中",
  SUCCEEDED: "已退款",
  FAILED: "失败",
  CLOSED: "已关闭",
};

export const REFUND_KIND: Record<string, string> = {
  customer: "买家申请",
  paid_after_expiry: "超时付款退回",
  admin: "商家发起",
  shipping: "运费退回",
};
