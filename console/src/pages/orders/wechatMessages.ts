/** How the admin reads WeChat's pushed events (消息推送): names, what each did, WeChat's times. */
import { formatTime } from "../../lib/time";

export const WECHAT_EVENT: Record<string, string> = {
  trade_manage_order_settlement: "结算 / 确认收货",
  trade_manage_remind_shipping: "用户提醒发货",
};

export const WECHAT_OUTCOME: Record<string, { label: string; tone: "success" | "info" | "warning" | "danger" }> = {
  complete: { label: "已完成订单", tone: "success" },
  already_completed: { label: "订单已完成（重复）", tone: "info" },
  recorded: { label: "已记录", tone: "info" },
  not_shipped: { label: "订单未发货，未处理", tone: "warning" },
  unknown_order: { label: "无此订单", tone: "danger" },
  transaction_mismatch: { label: "支付单号不符，未处理", tone: "danger" },
};

const TIME_FIELDS: Record<string, string> = {
  pay_time: "支付时间",
  shipped_time: "发货时间",
  estimated_settlement_time: "预计结算时间",
  confirm_receive_time: "确认收货时间",
  settlement_time: "结算时间",
  CreateTime: "推送时间",
};

const RECEIVE_METHOD: Record<number, string> = { 1: "自动确认收货", 2: "手动确认收货" };

export function eventName(event: string): string {
  return WECHAT_EVENT[event] ?? event;
}

export function outcomeOf(outcome: string): { label: string; tone: "success" | "info" | "warning" | "danger" } {
  return WECHAT_OUTCOME[outcome] ?? { label: outcome, tone: "info" };
}

/** The event's fields as rows: WeChat's second timestamps as China times, the rest as sent. */
export function fieldRows(fields: Record<string, unknown> | null | undefined): { key: string; label: string; value: string }[] {
  return Object.entries(fields ?? {}).map(([key, value]) => {
    if (key in TIME_FIELDS && typeof value === "number") {
      return { key, label: TIME_FIELDS[key], value: formatTime(new Date(value * 1000).toISOString()) };
    }
    if (key === "confirm_receive_method" && typeof value === "number") {
      return { key, label: "确认收货方式（微信所报）", value: RECEIVE_METHOD[value] ?? String(value) };
    }
    return { key, label: key, value: String(value) };
  });
}
