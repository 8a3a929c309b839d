import { describe, expect, it } from "vitest";

import { eventName, fieldRows, outcomeOf } from "./wechatMessages";

describe("WeChat's pushed events", () => {
  it("names the events and outcomes, and keeps unknown ones as sent", () => {
    expect(eventName("trade_manage_order_settlement")).toBe("结算 / 确认收货");
    expect(eventName("some_new_event")).toBe("some_new_event");
    expect(outcomeOf("complete")).toEqual({ label: "已完成订单", tone: "success" });
    expect(outcomeOf("unknown_order").tone).toBe("danger");
    expect(outcomeOf("later")).toEqual({ label: "later", tone: "info" });
  });
  it("shows WeChat's second timestamps as China times and the rest as sent", () => {
    const rows = fieldRows({ confirm_receive_time: 1796530200, confirm_receive_method: 2, transaction_id: "4200a" });
    expect(rows.map((r) => r.label)).toEqual(["确认收货时间", "确认收货方式（微信所报）", "transaction_id"]);
    expect(rows[0].value).toMatch(/^2026-12-06 12:10/);
    expect(rows[1].value).toBe("手动确认收货");
    expect(rows[2].value).toBe("4200a");
    expect(fieldRows(undefined)).toEqual([]);
  });
});
